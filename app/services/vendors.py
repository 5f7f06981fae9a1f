"""Outsourcing management (spec 6.2(5) 外包管理): suppliers and their contracts, the user accounts that work for
them, result control (periodic evaluations) and process control (the steps their staff did, on time or not, and
the service levels of the incidents they worked on).

Every change is written to the security log (`vendor_*` events) in the caller's transaction.
"""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import HumanTask, Organisation, SlaClock, User, Vendor, VendorEvaluation, VendorStaff
from ..models.base import utcnow
from . import kpi, sla
from .accounts import record_security_event
from .cases import is_staff
from .errors import Conflict, Forbidden, NotFound, ValidationFailed

KINDS = ("infrastructure", "application", "terminal", "service")  # spec 4 (3) a) to d)
MANAGERS = ("administrator", *sla.SLA_STAFF)
SCORES = ("quality", "timeliness", "cooperation")
REMIND_DAYS = 30
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")
_PERIOD = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])|-Q[1-4]|-H[12])?$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
TEXT_LIMITS = {"name": 200, "contact_name": 100, "contact_phone": 50, "contact_email": 200, "contract_no": 100,
               "service_scope": 4000, "service_terms": 4000}
FIELDS = ("code", "name", "kind", "organisation", *[k for k in TEXT_LIMITS if k != "name"], "contract_start",
          "contract_end")


def may_view(user: User) -> bool:
    """Staff, auditors and administrators; requesters (no group) do not see suppliers."""
    return is_staff(user) or user.in_group("auditor", "administrator")


def may_manage(user: User, vendor: Vendor | None = None) -> bool:
    """Administrators anywhere; service-level staff for contracts of their organisation and those below it."""
    if user.in_group("administrator"):
        return True
    if not user.in_group(*sla.SLA_STAFF):
        return False
    return vendor is None or vendor.organisation_id in kpi.subtree_ids(user.organisation_id)


def _require_view(user: User) -> None:
    if not may_view(user):
        raise Forbidden(_("Suppliers are for staff, auditors and administrators."))


def require_manage(user: User, vendor: Vendor | None = None) -> None:
    if not may_manage(user, vendor):
        raise Forbidden(_("Only administrators and service-level staff manage suppliers."))


def list_vendors(actor: User, q: str = "", kind: str | None = None, include_inactive: bool = False) -> list[Vendor]:
    """Suppliers by name; a text matches the code, name, contract number or contact."""
    _require_view(actor)
    stmt = select(Vendor).order_by(Vendor.name, Vendor.id)
    if kind:
        stmt = stmt.where(Vendor.kind == kind)
    if not include_inactive:
        stmt = stmt.where(Vendor.active.is_(True))
    if q.strip():
        pattern = "%" + q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(or_(*(col.ilike(pattern, escape="\\") for col in (
            Vendor.code, Vendor.name, Vendor.contract_no, Vendor.contact_name))))
    return list(db.session.scalars(stmt))


def get_vendor(actor: User, code: str) -> Vendor:
    _require_view(actor)
    vendor = db.session.scalar(select(Vendor).where(Vendor.code == code))
    if vendor is None:
        raise NotFound(_("Supplier %(code)s does not exist.", code=code))
    return vendor


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _clean(actor: User, vendor: Vendor | None, fields: dict[str, Any]) -> dict[str, Any]:
    """The fields as stored, or ValidationFailed naming each bad one (nothing is changed then)."""
    errors: dict[str, list[str]] = {}
    out: dict[str, Any] = {}
    unknown = set(fields) - set(FIELDS)
    for name in sorted(unknown):
        errors[name] = [_("Unknown field.")]
    if vendor is None or "code" in fields:
        code = str(fields.get("code") or "").strip()
        if vendor is not None and code != vendor.code:
            errors["code"] = [_("A supplier's code cannot change.")]
        elif not _CODE.match(code):
            errors["code"] = [_("1 to 40 letters, digits, - or _.")]
        elif vendor is None and db.session.scalar(select(Vendor.id).where(Vendor.code == code)) is not None:
            errors["code"] = [_("This code is taken.")]
    if vendor is None or "name" in fields:
        name = str(fields.get("name") or "").strip()
        if not name:
            errors["name"] = [_("Required.")]
        out["name"] = name
    if vendor is None or "kind" in fields:
        if fields.get("kind") not in KINDS:
            errors["kind"] = [_("Choose one of the listed values.")]
        out["kind"] = fields.get("kind")
    for name, limit in TEXT_LIMITS.items():
        if name in fields and name != "name":
            text = str(fields.get(name) or "").strip()
            if len(text) > limit:
                errors[name] = [_("At most %(n)s characters.", n=limit)]
            out[name] = text
    if out.get("contact_email") and not _EMAIL.match(out["contact_email"]):
        errors["contact_email"] = [_("Give an e-mail address.")]
    for name in ("contract_start", "contract_end"):
        if name in fields:
            try:
                out[name] = _date(fields[name])
            except ValueError:
                errors[name] = [_("Give a date as YYYY-MM-DD.")]
    start = out.get("contract_start", vendor.contract_start if vendor else None)
    end = out.get("contract_end", vendor.contract_end if vendor else None)
    if "contract_start" not in errors and "contract_end" not in errors and start and end and end < start:
        errors["contract_end"] = [_("The contract ends before it starts.")]
    if "organisation" in fields or vendor is None:
        code = fields.get("organisation") or actor.organisation.code
        org = db.session.scalar(select(Organisation).where(Organisation.code == code))
        if org is None:
            errors["organisation"] = [_("Unknown organisation.")]
        elif not actor.in_group("administrator") and org.id not in kpi.subtree_ids(actor.organisation_id):
            errors["organisation"] = [_("Your organisation or one below it.")]
        else:
            out["organisation_id"] = org.id
    if errors:
        raise ValidationFailed(_("Check the supplier's fields."), errors)
    return out


def create_vendor(actor: User, fields: dict[str, Any]) -> Vendor:
    """Register a supplier and its contract (managers)."""
    require_manage(actor)
    values = _clean(actor, None, fields)
    vendor = Vendor(code=str(fields["code"]).strip(), **values)
    db.session.add(vendor)
    db.session.flush()
    record_security_event("vendor_created", actor.username, actor, vendor=vendor.code,
                          fields={k: _plain(v) for k, v in values.items()})
    return vendor


def update_vendor(actor: User, vendor: Vendor, fields: dict[str, Any]) -> dict[str, list[Any]]:
    """Change a supplier's fields; returns {field: [old, new]} of what changed."""
    require_manage(actor, vendor)
    values = _clean(actor, vendor, fields)
    if "organisation_id" in values:
        require_manage(actor, Vendor(organisation_id=values["organisation_id"]))
    changes = {k: [_plain(getattr(vendor, k)), _plain(v)] for k, v in values.items() if getattr(vendor, k) != v}
    for key in changes:
        setattr(vendor, key, values[key])
    if changes:
        record_security_event("vendor_updated", actor.username, actor, vendor=vendor.code, changes=changes)
    db.session.flush()
    return changes


def set_active(actor: User, vendor: Vendor, active: bool) -> None:
    """End (or resume) working with a supplier; its history stays."""
    require_manage(actor, vendor)
    if vendor.active != active:
        vendor.active = active
        record_security_event("vendor_reactivated" if active else "vendor_deactivated", actor.username, actor,
                              vendor=vendor.code)
    db.session.flush()


def add_staff(actor: User, vendor: Vendor, username: str) -> VendorStaff:
    """Record that a user account works for the supplier (one supplier per account)."""
    require_manage(actor, vendor)
    user = db.session.scalar(select(User).where(User.username == username.strip()))
    if user is None:
        raise ValidationFailed(_("Check the supplier's fields."), {"username": [_("No such user.")]})
    existing = db.session.scalar(select(VendorStaff).where(VendorStaff.user_id == user.id))
    if existing is not None:
        raise Conflict(_("%(user)s already works for %(vendor)s.", user=user.username, vendor=existing.vendor.name))
    row = VendorStaff(vendor=vendor, user=user)
    db.session.add(row)
    record_security_event("vendor_staff_added", actor.username, actor, vendor=vendor.code, account=user.username)
    db.session.flush()
    return row


def remove_staff(actor: User, vendor: Vendor, username: str) -> None:
    require_manage(actor, vendor)
    row = next((s for s in vendor.staff if s.user.username == username), None)
    if row is None:
        raise NotFound(_("%(user)s does not work for this supplier.", user=username))
    vendor.staff.remove(row)
    record_security_event("vendor_staff_removed", actor.username, actor, vendor=vendor.code, account=username)
    db.session.flush()


def evaluate(actor: User, vendor: Vendor, period: str, scores: dict[str, Any], comment: str = "") -> VendorEvaluation:
    """Result control: one evaluation per supplier and period, three scores of 1 to 5."""
    require_manage(actor, vendor)
    errors: dict[str, list[str]] = {}
    period = (period or "").strip()
    if not _PERIOD.match(period):
        errors["period"] = [_("A year, half-year, quarter or month: 2026, 2026-H2, 2026-Q4 or 2026-11.")]
    values: dict[str, int] = {}
    for name in SCORES:
        raw = scores.get(name)
        text = str(raw).strip() if isinstance(raw, (int, str)) and not isinstance(raw, bool) else ""
        if text not in {"1", "2", "3", "4", "5"}:
            errors[name] = [_("A whole number from 1 to 5.")]
        values[name] = int(text) if text.isdigit() else 0
    if len(comment or "") > 4000:
        errors["comment"] = [_("At most %(n)s characters.", n=4000)]
    if errors:
        raise ValidationFailed(_("Check the evaluation."), errors)
    if db.session.scalar(select(VendorEvaluation.id).where(VendorEvaluation.vendor_id == vendor.id,
                                                           VendorEvaluation.period == period)) is not None:
        raise Conflict(_("This supplier already has an evaluation for %(period)s.", period=period))
    row = VendorEvaluation(vendor=vendor, period=period, comment=(comment or "").strip(), evaluator_id=actor.id,
                           **values)
    db.session.add(row)
    db.session.flush()
    record_security_event("vendor_evaluated", actor.username, actor, vendor=vendor.code, period=period,
                          scores=values)
    return row


def names() -> list[str]:
    """Active suppliers' names: what an asset's free-text supplier field offers, so the two match."""
    return list(db.session.scalars(select(Vendor.name).where(Vendor.active.is_(True)).order_by(Vendor.name)))


def supplied_assets(actor: User, vendor: Vendor) -> list[Any]:
    """The assets the viewer may see whose supplier is this one (by name or code, any case)."""
    from ..models import Asset
    from .cmdb import visible_orgs

    _require_view(actor)
    keys = {vendor.name.strip().lower(), vendor.code.strip().lower()}
    stmt = select(Asset).where(func.lower(func.trim(Asset.supplier)).in_(keys)).order_by(Asset.tag)
    orgs = visible_orgs(actor)
    if orgs is not None:
        stmt = stmt.where(Asset.organisation_id.in_(orgs))
    return list(db.session.scalars(stmt))


def average_score(vendor: Vendor) -> float | None:
    rows = vendor.evaluations
    return round(sum(r.overall for r in rows) / len(rows), 1) if rows else None


def contract_state(vendor: Vendor, today: date | None = None) -> str | None:
    """expired, ending (within REMIND_DAYS) or None, for a supplier still active."""
    today = today or utcnow().date()
    if not vendor.active or vendor.contract_end is None:
        return None
    if vendor.contract_end < today:
        return "expired"
    if vendor.contract_end <= today + timedelta(days=REMIND_DAYS):
        return "ending"
    return None


def remind_contracts(today: date | None = None) -> int:
    """The periodic job: tell the service-level staff of each active supplier's organisation, once per contract
    end date, that the contract ends within REMIND_DAYS; returns how many notices were written."""
    from . import notifications

    today = today or utcnow().date()
    due = db.session.scalars(select(Vendor).where(
        Vendor.active.is_(True), Vendor.contract_end.is_not(None), Vendor.contract_end >= today,
        Vendor.contract_end <= today + timedelta(days=REMIND_DAYS)))
    written = 0
    for vendor in due:
        staff = [u for group in sla.SLA_STAFF for u in notifications.group_members(group, [vendor.organisation_id])]
        written += len(notifications.notify(staff, "contract_ending",
                                            f"contract_ending:{vendor.code}:{vendor.contract_end.isoformat()}", {
            "vendor": vendor.name, "code": vendor.code, "contract_no": vendor.contract_no or "—",
            "contract_end": vendor.contract_end.isoformat(), "days": (vendor.contract_end - today).days}))
    db.session.flush()
    return written


def process_control(actor: User, vendor: Vendor, *, period: str | None = None, start: str | None = None,
                    end: str | None = None, now: datetime | None = None) -> dict[str, Any]:
    """What the supplier's staff did in a period (steps completed, on time against their due time), what they hold
    now (open, overdue), and how the incidents they worked on met their resolution targets (SLA reports' rule)."""
    _require_view(actor)
    now = now or utcnow()
    span = kpi.parse_period(vendor.organisation, period, start, end, now)
    staff_ids = [s.user_id for s in vendor.staff]
    result: dict[str, Any] = {"period": span.label, "staff": len(staff_ids), "completed": 0, "completed_late": 0,
                              "open": 0, "overdue": 0, "cases": 0, "resolved_in_time": 0, "resolved_late": 0}
    if not staff_ids:
        return result
    done = list(db.session.execute(select(HumanTask.instance_id, HumanTask.due_at, HumanTask.completed_at).where(
        HumanTask.completed_by_id.in_(staff_ids), HumanTask.state == "completed",
        HumanTask.completed_at >= span.start, HumanTask.completed_at < span.end)))
    result["completed"] = len(done)
    result["completed_late"] = sum(1 for _i, due, at in done if due is not None and at > due)
    held = list(db.session.scalars(select(HumanTask.due_at).where(
        HumanTask.assignee_id.in_(staff_ids), HumanTask.state == "ready")))
    result["open"] = len(held)
    result["overdue"] = sum(1 for due in held if due is not None and due < now)
    worked = {i for i, _due, _at in done}
    result["cases"] = len(worked)
    at = min(now, span.end)
    for clock in db.session.scalars(select(SlaClock).options(selectinload(SlaClock.pauses)).where(
            SlaClock.instance_id.in_(worked), SlaClock.kind == "resolve")):
        outcome, _fig = sla.clock_outcome(clock, at)
        if outcome == "achieved":
            result["resolved_in_time"] += 1
        elif outcome == "breached":
            result["resolved_late"] += 1
    decided = result["resolved_in_time"] + result["resolved_late"]
    result["timely_repair_rate"] = round(100 * result["resolved_in_time"] / decided, 1) if decided else None
    result["on_time_rate"] = (round(100 * (result["completed"] - result["completed_late"]) / result["completed"], 1)
                              if result["completed"] else None)
    return result


def vendor_of(user: User) -> Vendor | None:
    row = db.session.scalar(select(VendorStaff).where(VendorStaff.user_id == user.id))
    return row.vendor if row is not None else None


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value
