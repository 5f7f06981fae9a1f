"""CMDB data quality (spec 6.1.5 Table 6: 配置状态验证和审计 — verify that the CMDB matches reality): the
findings a configuration audit starts from. A CMDB decays quietly: duplicates make impact analysis count a
server twice, a CI nobody relates to drops out of every impact graph, a live system still depending on a
retired one hides a risk, and a record nobody has touched for a year is a guess.

Checks, on the CIs the user may see that are still live (planned, in use, under maintenance):

* duplicate_hostname, duplicate_ip, duplicate_serial: two or more live CIs with the same host name (any case),
  IP address or serial number;
* orphan: a live CI with no relation at all (documents excepted: they need none);
* depends_on_retired: a live CI related to a retired or disposed one by runs_on, depends_on, connected_to or
  part_of;
* missing_serial: live hardware without a serial number (the asset it is cannot be found);
* stale: a live CI unchanged for more than `stale_days` days (default 365).
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import CIRelation, ConfigurationItem, User
from ..models.base import utcnow
from .cmdb import CLASSES, WRITER_GROUPS, visible_orgs
from .errors import Forbidden, ValidationFailed

LIVE = ("planned", "in_use", "under_maintenance")
GONE = ("retired", "disposed")
CHECKS = ("duplicate_hostname", "duplicate_ip", "duplicate_serial", "orphan", "depends_on_retired",
          "missing_serial", "stale")
HARDWARE = frozenset(k for k, (_p, _zh, _en, attrs) in CLASSES.items() if "serial_number" in attrs)
NO_RELATIONS_NEEDED = frozenset({"document"})
DEPENDING = ("runs_on", "depends_on", "connected_to", "part_of")
READERS = (*WRITER_GROUPS, "administrator", "auditor")


@dataclass
class Finding:
    check: str
    key: str  # what the CIs share, or the CI's own code
    cis: list[ConfigurationItem]
    detail: dict[str, Any] = field(default_factory=dict)


def may_view(user: User) -> bool:
    return user.in_group(*READERS)


def findings(actor: User, stale_days: Any = 365, now: datetime | None = None) -> dict[str, list[Finding]]:
    """Every check's findings, in CHECKS order (configuration staff, administrators, auditors)."""
    if not may_view(actor):
        raise Forbidden(_("The CMDB quality report is for configuration management, administrators and auditors."))
    try:
        days = int(stale_days)
        if not 30 <= days <= 3650:
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationFailed(_("Check the search."), {"stale_days": [
            _("A whole number from %(low)s to %(high)s.", low=30, high=3650)]}) from None
    orgs = visible_orgs(actor)
    stmt = select(ConfigurationItem).where(ConfigurationItem.status.in_(LIVE))
    if orgs is not None:
        stmt = stmt.where(ConfigurationItem.organisation_id.in_(orgs))
    live = list(db.session.scalars(stmt.order_by(ConfigurationItem.code)))
    by_id = {ci.id: ci for ci in live}
    out: dict[str, list[Finding]] = {check: [] for check in CHECKS}
    for check, value_of in (("duplicate_hostname", lambda ci: (ci.hostname or "").strip().lower()),
                            ("duplicate_ip", lambda ci: (ci.ip_address or "").strip()),
                            ("duplicate_serial",
                             lambda ci: str((ci.attributes or {}).get("serial_number") or "").strip())):
        groups: dict[str, list[ConfigurationItem]] = defaultdict(list)
        for ci in live:
            if value := value_of(ci):
                groups[value].append(ci)
        out[check] = [Finding(check, value, cis) for value, cis in sorted(groups.items()) if len(cis) > 1]
    related: set[int] = set()
    for chunk in _chunks(list(by_id)):
        for source_id, target_id in db.session.execute(select(CIRelation.source_id, CIRelation.target_id).where(
                (CIRelation.source_id.in_(chunk)) | (CIRelation.target_id.in_(chunk)))):
            related.update((source_id, target_id))
    out["orphan"] = [Finding("orphan", ci.code, [ci]) for ci in live
                     if ci.id not in related and ci.ci_type not in NO_RELATIONS_NEEDED]
    target = aliased(ConfigurationItem)
    for chunk in _chunks(list(by_id)):
        for source_id, rel_type, gone in db.session.execute(
                select(CIRelation.source_id, CIRelation.rel_type, target)
                .join(target, target.id == CIRelation.target_id)
                .where(CIRelation.source_id.in_(chunk), CIRelation.rel_type.in_(DEPENDING), target.status.in_(GONE))):
            ci = by_id[source_id]
            out["depends_on_retired"].append(Finding("depends_on_retired", ci.code, [ci, gone], {
                "relation": rel_type, "target": gone.code, "target_status": gone.status}))
    out["missing_serial"] = [Finding("missing_serial", ci.code, [ci]) for ci in live
                             if ci.ci_type in HARDWARE and not (ci.attributes or {}).get("serial_number")]
    cutoff = (now or utcnow()) - timedelta(days=days)
    out["stale"] = [Finding("stale", ci.code, [ci], {"updated_at": (ci.updated_at or ci.created_at).isoformat()})
                    for ci in live if (ci.updated_at or ci.created_at) is not None
                    and (ci.updated_at or ci.created_at) < cutoff]
    return out


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)] or [[]]
