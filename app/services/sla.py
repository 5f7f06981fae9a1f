"""SLA clocks (stopwatches) on items, their targets from dmn/sla_targets.dmn, and organisation calendars.

A clock's figures (elapsed minutes, deadline, warning instant, breached or not) are always *derived* from
its start, its pause intervals, its stop, its frozen calendar and its target by app.services.calendar;
nothing edits a deadline. Changing the target (priority or service class changed) keeps the start and
every pause, so elapsed time is never lost and the new deadline is exact.

Incident rules (called from IncidentHooks.after_step, documented in README "SLA clocks"):
1. **Start**: when the record step (detect_and_record) completes in scope and the priority and service class
   are known, a *response* and a *resolve* clock start, both from the moment the fault was reported
   (incident.reported_at), with targets from sla_targets (priority x service class).
2. **Response stops** at the first support action: when classify_and_first_support completes.
3. **Resolve pauses** (reason waiting_user) while the requester is asked to confirm the resolution (from
   the moment confirm_resolution becomes ready); a "not confirmed" answer resumes it (reopened).
4. **Resolve stops** when the resolution is confirmed (confirm_resolution completed with confirmed=true);
   the waiting time before the confirmation stays excluded. Any clock still running stops when the
   instance ends.
5. **Retarget**: when priority or service class changes, both clocks keep start and pauses and take the
   new target; each change is kept in the clock's history.
6. HumanTask.due_at of ready support tasks (investigate_and_diagnose, resolve_and_recover) is the resolve
   deadline.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, literal, select
from sqlalchemy.orm import aliased, joinedload, selectinload

from ..engine.definitions import evaluate_decision, load_decision
from ..extensions import db
from ..models import BusinessCalendar, HumanTask, Incident, Organisation, ProcessInstance, SlaClock, SlaPause, User
from ..models.base import utcnow
from . import calendar as cal
from . import cmdb
from .audit import append_event
from .errors import Forbidden, NotFound, ValidationFailed
from .instances import require_instance

DEFAULT_WARNING_SHARE = 0.75
SLA_STAFF = ("service_level_lead", "service_level_operator")
CALENDAR_EDITORS = ("administrator", *SLA_STAFF)
SUPPORT_TASKS = frozenset({"investigate_and_diagnose", "resolve_and_recover"})
PAUSE_REASONS = ("waiting_user", "waiting_vendor")
_CLOCK_STEPS = frozenset({"detect_and_record", "classify_and_first_support", "confirm_resolution"})


# --------------------------------------------------------------------------- targets

@lru_cache(maxsize=4)
def _decision(path: str, mtime: float) -> Any:
    return load_decision(Path(path).read_bytes(), Path(path).name)


def targets(priority: str, service_class: str) -> dict[str, Any]:
    """Response and resolution minutes for a priority and service class (dmn/sla_targets.dmn, as it is now)."""
    path = Path(current_app.config["DMN_DIR"]) / "sla_targets.dmn"
    result = evaluate_decision(_decision(str(path), path.stat().st_mtime),
                               {"priority": priority, "service_class": service_class})
    if not result.matched:
        raise ValidationFailed(_("No service-level target for this priority and service class."),
                               {"priority": [priority], "service_class": [service_class]})
    return {"response": int(result.outputs["response_minutes"]),
            "resolve": int(result.outputs["resolution_minutes"]), "rule": result.matched[0].rule_id}


# --------------------------------------------------------------------------- calendars

def calendar_spec_for(organisation_id: int) -> dict[str, Any]:
    """The calendar of an organisation: its own, else its nearest ancestor's, else the default."""
    found = db.session.scalar(_nearest_calendar_statement(), {"organisation_id": organisation_id})
    return found.spec() if found is not None else cal.default_calendar_spec()


@lru_cache(maxsize=1)
def _nearest_calendar_statement() -> Any:
    """One round trip: walk up the organisation tree in SQL, take the nearest calendar on the way (built once:
    constructing a recursive CTE costs more than running it)."""
    chain = select(Organisation.id, Organisation.parent_id, literal(0).label("depth")).where(
        Organisation.id == bindparam("organisation_id")).cte("chain", recursive=True)
    parent = aliased(Organisation)
    chain = chain.union_all(select(parent.id, parent.parent_id, (chain.c.depth + 1).label("depth"))
                            .join(chain, parent.id == chain.c.parent_id))
    return (select(BusinessCalendar).join(chain, BusinessCalendar.organisation_id == chain.c.id)
            .order_by(chain.c.depth).limit(1))


def resolve_calendar(value: Any) -> cal.Calendar:
    """A calendar from an organisation id or an inline definition (what /sla/compute accepts)."""
    if isinstance(value, bool):
        raise cal.CalendarError("calendar must be an organisation id or an object")
    if isinstance(value, int):
        if db.session.get(Organisation, value) is None:
            raise NotFound(_("Organisation %(id)s does not exist.", id=value))
        return cal.make_calendar(calendar_spec_for(value))
    return cal.make_calendar(value)


def may_view_calendar(user: User) -> bool:
    """The calendar page is for staff, auditors and administrators (members of any group), not requesters."""
    return bool(user.memberships)


def calendar_for(actor: User) -> dict[str, Any]:
    """The actor's organisation's calendar, for the calendar page (refused to requesters)."""
    if not may_view_calendar(actor):
        raise Forbidden(_("You may not do this."))  # an existing message: the catalogs need no new entry
    return calendar_spec_for(actor.organisation_id)


def may_edit_calendar(user: User) -> bool:
    return user.in_group(*CALENDAR_EDITORS)


def set_calendar(organisation: Organisation, actor: User, spec: dict[str, Any]) -> BusinessCalendar:
    """Store an organisation's calendar (administrators and service-level staff)."""
    if not may_edit_calendar(actor):
        raise Forbidden(_("Only administrators and service-level staff may edit calendars."))
    try:
        normalised = cal.make_calendar(spec).to_dict()
    except cal.CalendarError as exc:
        raise ValidationFailed(_("The calendar is invalid."), {"calendar": [str(exc)]}) from None
    row = db.session.scalar(select(BusinessCalendar).where(BusinessCalendar.organisation_id == organisation.id))
    if row is None:
        row = BusinessCalendar(organisation_id=organisation.id)
        db.session.add(row)
    row.timezone = normalised["timezone"]
    row.hours = normalised["hours"]
    row.holidays = normalised["holidays"]
    row.working_days = normalised["working_days"]
    row.updated_by_id = actor.id
    db.session.flush()
    return row


# --------------------------------------------------------------------------- clocks

def _pauses(clock: SlaClock) -> list[tuple[datetime, datetime | None]]:
    return [(p.started_at, p.ended_at) for p in clock.pauses]


@dataclass
class Figures:
    """What a clock says at an instant; every page, report and the API show these."""

    status: str  # running | paused | stopped
    elapsed_minutes: int
    target_minutes: int
    deadline: datetime | None
    warning_at: datetime | None
    breached: bool
    warned: bool
    paused_minutes: int

    @property
    def remaining_minutes(self) -> int:
        return self.target_minutes - self.elapsed_minutes


def figures(clock: SlaClock, now: datetime) -> Figures:
    """Derive a clock's figures at `now` (its stop time if stopped)."""
    calendar = cal.make_calendar(clock.calendar)
    pauses = _pauses(clock)
    end = clock.stopped_at or now
    seconds = cal.elapsed_seconds(calendar, clock.started_at, end, pauses)
    gross = cal.elapsed_seconds(calendar, clock.started_at, end)
    due = cal.deadline(calendar, clock.started_at, clock.target_minutes, pauses)
    warn = cal.deadline(calendar, clock.started_at, math.ceil(clock.target_minutes * clock.warning_share), pauses)
    return Figures(
        status=clock.status, elapsed_minutes=seconds // 60, target_minutes=clock.target_minutes,
        deadline=due, warning_at=warn, breached=seconds > clock.target_minutes * 60,
        warned=seconds >= clock.target_minutes * 60 * clock.warning_share, paused_minutes=(gross - seconds) // 60,
    )


def refresh(clock: SlaClock, now: datetime) -> Figures:
    """Recompute the stored (derived) columns the sweeps select on."""
    fig = figures(clock, now)
    clock.deadline_at = fig.deadline
    clock.warning_at = fig.warning_at
    clock.elapsed_minutes = fig.elapsed_minutes
    return fig


def start_clock(instance: ProcessInstance, kind: str, *, started_at: datetime, target_minutes: int,
                priority: str | None, service_class: str | None, now: datetime,
                warning_share: float = DEFAULT_WARNING_SHARE, rule: str | None = None,
                calendar: dict[str, Any] | None = None) -> SlaClock:
    """Start a clock on an instance (its calendar is frozen from the instance's organisation, or given)."""
    clock = SlaClock(
        instance=instance, instance_id=instance.id, kind=kind, status="running",
        organisation_id=instance.organisation_id, priority=priority, service_class=service_class,
        target_minutes=target_minutes, warning_share=warning_share,
        calendar=calendar if calendar is not None else calendar_spec_for(instance.organisation_id),
        started_at=started_at,
        history=[{"at": now.isoformat(), "priority": priority, "service_class": service_class,
                  "target_minutes": target_minutes, "rule": rule}],
    )
    clock.pauses = []
    db.session.add(clock)
    refresh(clock, now)
    append_event(instance, "sla_clock_started", data={
        "kind": kind, "target_minutes": target_minutes, "priority": priority, "service_class": service_class,
        "started_at": started_at.isoformat(), "deadline": _iso(clock.deadline_at)})
    return clock


def pause_clock(clock: SlaClock, reason: str, now: datetime) -> None:
    if clock.status != "running":
        return
    if reason not in PAUSE_REASONS:
        raise ValidationFailed(_("Unknown pause reason."), {"reason": [reason]})
    clock.pauses.append(SlaPause(reason=reason, started_at=now))
    clock.status = "paused"
    refresh(clock, now)
    append_event(clock.instance, "sla_clock_paused", data={"kind": clock.kind, "reason": reason})


def resume_clock(clock: SlaClock, now: datetime) -> None:
    if clock.status != "paused":
        return
    for pause in clock.pauses:
        if pause.ended_at is None:
            pause.ended_at = now
    clock.status = "running"
    refresh(clock, now)
    append_event(clock.instance, "sla_clock_resumed", data={"kind": clock.kind, "deadline": _iso(clock.deadline_at)})


def stop_clock(clock: SlaClock, now: datetime) -> None:
    """Stop a clock; an open pause ends at its start, i.e. the paused time stays excluded."""
    if clock.status == "stopped":
        return
    fig = _end(clock, "stopped", now)
    if fig.breached and clock.breached_at is None:
        clock.breached_at = fig.deadline
    append_event(clock.instance, "sla_clock_stopped", data={
        "kind": clock.kind, "elapsed_minutes": fig.elapsed_minutes, "target_minutes": clock.target_minutes,
        "breached": fig.breached})


def _end(clock: SlaClock, status: str, now: datetime) -> Figures:
    """End a clock now: an open pause ends with it (its time stays excluded); the final figures."""
    for pause in clock.pauses:
        if pause.ended_at is None:
            pause.ended_at = now
    clock.status = status
    clock.stopped_at = now
    return refresh(clock, now)


def cancel_clocks(instance: ProcessInstance, now: datetime) -> None:
    """A cancelled case's clocks end where they are: no warning or breach after, and no month's report counts them."""
    for clock in clocks_of(instance):
        if clock.status in ("stopped", "cancelled"):
            continue
        _end(clock, "cancelled", now)
        append_event(instance, "sla_clock_cancelled", data={"kind": clock.kind})


def retarget(clock: SlaClock, *, priority: str | None, service_class: str | None, target_minutes: int,
             now: datetime, rule: str | None = None) -> None:
    """Take a new target; start, pauses and so elapsed time are kept, the deadline is recomputed."""
    if clock.target_minutes == target_minutes and clock.priority == priority and clock.service_class == service_class:
        return
    clock.priority, clock.service_class, clock.target_minutes = priority, service_class, target_minutes
    clock.history = [*clock.history, {"at": now.isoformat(), "priority": priority, "service_class": service_class,
                                      "target_minutes": target_minutes, "rule": rule}]
    refresh(clock, now)
    append_event(clock.instance, "sla_clock_retargeted", data={
        "kind": clock.kind, "priority": priority, "service_class": service_class, "target_minutes": target_minutes,
        "deadline": _iso(clock.deadline_at)})


def clocks_of(instance: ProcessInstance) -> list[SlaClock]:
    return list(db.session.scalars(_clocks_statement(), {"instance_id": instance.id}).unique())


@lru_cache(maxsize=1)
def _clocks_statement() -> Any:
    # Pauses come in the same round trip: every caller derives figures from them. Built once: most incident
    # steps read the clocks, and building the statement cost more than running it.
    return (select(SlaClock).where(SlaClock.instance_id == bindparam("instance_id"))
            .options(joinedload(SlaClock.pauses)).order_by(SlaClock.kind.desc()))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


# --------------------------------------------------------------------------- incident lifecycle

def on_incident_step(instance: ProcessInstance, incident: Incident, step: list[Any], data: dict[str, Any],
                     now: datetime | None = None) -> None:
    """Apply the incident rules (module docstring) to what one engine step did (`step`: its StepEvents)."""
    now = now or utcnow()
    done = {e.spec_id for e in step if e.kind == "element_completed"}
    ready = {e.spec_id for e in step if e.kind == "task_ready"}
    changed: set[str] = set()
    for e in step:
        if e.kind == "element_completed":
            changed.update((e.detail or {}).get("changes", {}))
    finished = any(e.kind == "workflow_completed" for e in step)
    if not (done & _CLOCK_STEPS or "confirm_resolution" in ready or finished
            or {"priority", "service_class"} & changed):
        return  # nothing in this step moves a clock: no query
    clocks = {c.kind: c for c in clocks_of(instance)} if instance.id is not None else {}
    priority, service_class = data.get("priority"), data.get("service_class")
    if not clocks:
        if "detect_and_record" in done and data.get("in_scope") and priority and service_class:
            t = targets(str(priority), str(service_class))
            calendar = calendar_spec_for(instance.organisation_id)
            for kind in ("response", "resolve"):
                clocks[kind] = start_clock(instance, kind, started_at=incident.reported_at, target_minutes=t[kind],
                                           priority=priority, service_class=service_class, now=now, rule=t["rule"],
                                           calendar=calendar)
        else:
            return
    elif priority and service_class:
        current = clocks.get("resolve") or clocks.get("response")
        if current is not None and (current.priority, current.service_class) != (priority, service_class):
            t = targets(str(priority), str(service_class))
            for kind, clock in clocks.items():
                retarget(clock, priority=priority, service_class=service_class, target_minutes=t[kind],
                         now=now, rule=t["rule"])
            set_support_due_dates(instance, ready_tasks(instance, stored=True))
    response, resolve = clocks.get("response"), clocks.get("resolve")
    if response is not None and "classify_and_first_support" in done:
        stop_clock(response, now)
    if resolve is not None:
        if "confirm_resolution" in done:
            if data.get("confirmed"):
                stop_clock(resolve, now)
            else:
                resume_clock(resolve, now)
        if "confirm_resolution" in ready:
            pause_clock(resolve, "waiting_user", now)
    if finished:
        for clock in clocks.values():
            stop_clock(clock, now)


def set_support_due_dates(instance: ProcessInstance, tasks: list[HumanTask]) -> None:
    """HumanTask.due_at of the instance's ready support tasks = the resolve deadline."""
    if not any(t.spec_id in SUPPORT_TASKS for t in tasks):
        return
    resolve = next((c for c in clocks_of(instance) if c.kind == "resolve"), None) if instance.id else None
    if resolve is None:
        return
    due = resolve.deadline_at if resolve.status != "stopped" else None
    for task in tasks:
        # A task added in this step has no state yet (the column default applies at insert).
        if task.spec_id in SUPPORT_TASKS and task.state in (None, "ready"):
            task.due_at = due


def ready_tasks(instance: ProcessInstance, *, stored: bool = False) -> list[HumanTask]:
    """Tasks of an instance added in this transaction (not yet flushed); with stored=True also its ready
    tasks already in the database (needed when a deadline moved while a support task was open)."""
    pending = [o for o in db.session.new if isinstance(o, HumanTask) and o.instance is instance]
    if not stored or not instance.id:
        return pending
    found = list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.state == "ready")))
    return [*found, *(t for t in pending if t not in found)]


# --------------------------------------------------------------------------- the SLA page

def may_view_sla(user: User, instance: ProcessInstance) -> bool:
    from .instances import can_view_instance

    return user.in_group(*SLA_STAFF) or can_view_instance(user, instance)


def get_item(instance_id: int, actor: User) -> ProcessInstance:
    """An item whose SLA the actor may see (its viewers, and service-level staff everywhere)."""
    instance = require_instance(instance_id)
    if not may_view_sla(actor, instance):
        raise Forbidden(_("You may not see this case."))
    return instance


def timeline(clock: SlaClock, now: datetime) -> list[dict[str, Any]]:
    """The clock's history as segments: running / paused, and the warning and breach points."""
    end = clock.stopped_at or now
    points: list[dict[str, Any]] = []
    cursor = clock.started_at
    for pause in clock.pauses:
        if pause.started_at > cursor:
            points.append({"state": "running", "from": cursor, "to": pause.started_at})
        points.append({"state": "paused", "reason": pause.reason, "from": pause.started_at,
                       "to": pause.ended_at})
        cursor = pause.ended_at or end
    if cursor < end and (not clock.pauses or clock.pauses[-1].ended_at is not None):
        points.append({"state": "running", "from": cursor, "to": clock.stopped_at})
    fig = figures(clock, now)
    if fig.warning_at is not None and fig.warning_at <= end:
        points.append({"state": "warning", "from": fig.warning_at, "to": None})
    if fig.breached and fig.deadline is not None:
        points.append({"state": "breached", "from": fig.deadline, "to": None})
    points.sort(key=lambda p: p["from"])
    return points


def sla_view(instance: ProcessInstance, actor: User, now: datetime | None = None) -> list[dict[str, Any]]:
    """Every clock of an item with its figures and timeline."""
    if not may_view_sla(actor, instance):
        raise Forbidden(_("You may not see this case."))
    now = now or utcnow()
    return [{"clock": c, "figures": figures(c, now), "timeline": timeline(c, now)} for c in clocks_of(instance)]


# --------------------------------------------------------------------------- the compute API

COMPUTE_ROLES = (*SLA_STAFF, "auditor")


def compute(actor: User, calendar: Any, start: Any, target_minutes: Any, pauses: Any = None, at: Any = None,
            now: datetime | None = None) -> dict[str, Any]:
    """Deadline and elapsed business minutes, by the same code as the live clocks."""
    if not actor.in_group(*COMPUTE_ROLES):
        raise Forbidden(_("Only service-level staff and auditors may compute SLA figures."))
    errors: dict[str, list[str]] = {}
    try:
        calendar_value = resolve_calendar(calendar)
    except cal.CalendarError as exc:
        errors["calendar"] = [str(exc)]
    parsed: dict[str, Any] = {}
    for name, value in (("start", start), ("at", at)):
        if value is None and name == "at":
            continue
        try:
            parsed[name] = cal.parse_instant(value)
        except cal.CalendarError as exc:
            errors[name] = [str(exc)]
    if isinstance(target_minutes, bool) or not isinstance(target_minutes, int) or target_minutes < 0:
        errors["target_minutes"] = [_("A whole number of minutes, zero or more.")]
    intervals = []
    try:
        for pause in pauses or []:
            if not isinstance(pause, list | tuple) or len(pause) != 2:
                raise cal.CalendarError("each pause is [from, to]")
            intervals.append((cal.parse_instant(pause[0]),
                              cal.parse_instant(pause[1]) if pause[1] is not None else None))
        cal.normalise_pauses(intervals)
    except cal.CalendarError as exc:
        errors["pauses"] = [str(exc)]
    if errors:
        raise ValidationFailed(_("The SLA computation request is invalid."), errors)
    due = cal.deadline(calendar_value, parsed["start"], target_minutes, intervals)
    when = parsed.get("at") or now or utcnow()
    return {"deadline": _iso(due), "elapsed_minutes": cal.elapsed(calendar_value, parsed["start"], when, intervals),
            "at": when.isoformat()}


# --------------------------------------------------------------------------- warnings and breaches

def _recipients(clock: SlaClock) -> list[User]:
    """The assignee(s) of the item's open tasks, the group lead and the service-level lead."""
    from . import notifications

    instance = clock.instance
    org = db.session.get(Organisation, instance.organisation_id)
    orgs = [instance.organisation_id, *(o.id for o in (org.ancestors() if org else []))]
    assignees = list(db.session.scalars(select(User).join(HumanTask, HumanTask.assignee_id == User.id).where(
        HumanTask.instance_id == instance.id, HumanTask.state == "ready")))
    leads = notifications.group_members("incident_lead", [instance.organisation_id])
    sl_leads = notifications.group_members("service_level_lead", orgs)
    return [*assignees, *leads, *sl_leads]


def _notice_context(clock: SlaClock, fig: Figures) -> dict[str, Any]:
    from ..web.filters import fmt_datetime

    try:
        deadline = fmt_datetime(fig.deadline) if fig.deadline else "—"
    except Exception:  # noqa: BLE001 - outside a request the plain ISO form will do
        deadline = fig.deadline.isoformat() if fig.deadline else "—"
    return {"business_key": clock.instance.business_key, "title": clock.instance.title, "kind": clock.kind,
            "kind_zh": "响应" if clock.kind == "response" else "解决", "target": clock.target_minutes,
            "elapsed": fig.elapsed_minutes, "deadline": deadline, "share": int(round(clock.warning_share * 100)),
            "clock_id": clock.id}


def sweep(now: datetime | None = None) -> dict[str, int]:
    """Mark and notify, once each, the warning share and the breach of every running clock due by `now`.

    Selects through the (status, warning_at) and (status, deadline_at) indexes; the marks warned_at and
    breached_at (claimed with UPDATE ... WHERE ... IS NULL) and the notices' unique keys make it idempotent.
    The caller (the sla.sweep job) commits.
    """
    from sqlalchemy import update

    from . import notifications

    now = now or utcnow()
    counts = {"warned": 0, "breached": 0}
    for column, mark, kind in ((SlaClock.warning_at, SlaClock.warned_at, "sla_warning"),
                               (SlaClock.deadline_at, SlaClock.breached_at, "sla_breach")):
        ids = list(db.session.scalars(select(SlaClock.id).where(
            SlaClock.status == "running", column.is_not(None), column <= now, mark.is_(None))))
        for clock_id in ids:
            clock = db.session.get(SlaClock, clock_id)
            fig = refresh(clock, now)
            due = fig.warned if kind == "sla_warning" else fig.breached
            if not due:
                continue  # the stored instant was stale (e.g. just retargeted); refreshed now
            claimed = db.session.execute(update(SlaClock).where(SlaClock.id == clock_id, mark.is_(None))
                                         .values({mark.key: fig.warning_at if kind == "sla_warning" else fig.deadline}))
            if claimed.rowcount != 1:
                continue
            db.session.refresh(clock)
            notifications.notify(_recipients(clock), kind, f"{kind}:{clock.id}", _notice_context(clock, fig),
                                 clock.instance)
            counts["warned" if kind == "sla_warning" else "breached"] += 1
    db.session.flush()
    return counts


# --------------------------------------------------------------------------- monthly reports

def _month_bounds(spec: dict[str, Any], period: str) -> tuple[datetime, datetime]:
    from datetime import date, time
    from zoneinfo import ZoneInfo

    year, month = (int(x) for x in period.split("-"))
    tz = ZoneInfo(spec.get("timezone") or "Asia/Shanghai")
    start = datetime.combine(date(year, month, 1), time.min, tz)
    end = datetime.combine(date(year + (month == 12), month % 12 + 1, 1), time.min, tz)
    return start, end


def clock_outcome(clock: SlaClock, at: datetime) -> tuple[str | None, Figures | None]:
    """How a clock stands at `at`: achieved (stopped within target), breached (over target, stopped or not),
    running (open, not yet over), or None when its case was cancelled; with its figures (the reports' rule)."""
    if clock.status == "cancelled":
        return None, None
    fig = figures(clock, at)
    if fig.breached:
        return "breached", fig
    return ("achieved" if clock.status == "stopped" else "running"), fig


def outcome_at(clock: SlaClock, at: datetime, calendars: dict[str, cal.Calendar] | None = None) -> str | None:
    """clock_outcome's verdict alone, cheaply where the stored deadline settles it (statistics over many clocks).

    A running clock that was never paused reached its target at its stored deadline (refresh keeps it): before
    that it is running, after it breached as soon as any working time has passed since. Anything else (paused,
    pauses behind it, no deadline) is computed in full.
    """
    if clock.status == "running" and clock.deadline_at is not None and not clock.pauses:
        if at <= clock.deadline_at:
            return "running"
        key = json.dumps(clock.calendar, sort_keys=True)
        working = (calendars if calendars is not None else {}).get(key)
        if working is None:
            working = cal.make_calendar(clock.calendar)
            if calendars is not None:
                calendars[key] = working
        return "breached" if cal.works_between(working, clock.deadline_at, at) else "running"
    return clock_outcome(clock, at)[0]


def build_report(organisation: Organisation, period: str, now: datetime | None = None) -> Any:
    """Compute and store (replace) the report of clocks started in `period` (YYYY-MM) in an organisation.

    Figures come from `figures()` at the end of the month (or now, if earlier): achieved = stopped within
    target; breached = over target (stopped or still running); running = open and not yet over target.
    """
    from ..models import SlaReport

    now = now or utcnow()
    start, end = _month_bounds(calendar_spec_for(organisation.id), period)
    clocks = db.session.scalars(select(SlaClock).options(selectinload(SlaClock.pauses)).where(
        SlaClock.organisation_id == organisation.id, SlaClock.started_at >= start, SlaClock.started_at < end))
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    at = min(now, end)
    for clock in clocks:
        outcome, fig = clock_outcome(clock, at)
        if outcome is None or fig is None:
            continue  # the case was cancelled: neither achieved nor breached
        g = groups.setdefault((clock.service_class or "-", clock.kind), {
            "service_class": clock.service_class or "-", "kind": clock.kind, "clocks": 0, "target_total": 0,
            "achieved": 0, "breached": 0, "running": 0, "paused_minutes": 0})
        g["clocks"] += 1
        g["target_total"] += clock.target_minutes
        g["paused_minutes"] += fig.paused_minutes
        g[outcome] += 1
    rows = []
    for key in sorted(groups):
        g = groups[key]
        decided = g["achieved"] + g["breached"]
        rows.append({**{k: v for k, v in g.items() if k != "target_total"},
                     "target_minutes_avg": round(g["target_total"] / g["clocks"]),
                     "achievement_rate": round(100 * g["achieved"] / decided, 1) if decided else None})
    report = db.session.scalar(select(SlaReport).where(SlaReport.organisation_id == organisation.id,
                                                       SlaReport.period == period))
    if report is None:
        report = SlaReport(organisation_id=organisation.id, period=period)
        db.session.add(report)
    report.rows, report.generated_at = rows, now
    db.session.flush()
    return report


def previous_period(now: datetime) -> str:
    from datetime import timedelta

    first = now.astimezone(cal.default_calendar().tz).replace(day=1)
    last_month = first - timedelta(days=1)
    return f"{last_month.year:04d}-{last_month.month:02d}"


def build_all_reports(period: str | None = None, now: datetime | None = None) -> int:
    """The monthly job: last month's report for every organisation (idempotent: replaces)."""
    now = now or utcnow()
    period = period or previous_period(now)
    orgs = list(db.session.scalars(select(Organisation).order_by(Organisation.id)))
    for org in orgs:
        build_report(org, period, now)
    return len(orgs)


def may_view_reports(user: User) -> bool:
    """SLA reports are for staff, auditors and administrators (members of any group), not requesters."""
    return bool(user.memberships)


def reports_for(actor: User) -> list[Any]:
    """Reports of the actor's organisation and those below it (auditors, administrators: all); refused to
    requesters."""
    from ..models import SlaReport

    if not may_view_reports(actor):
        raise Forbidden(_("You may not do this."))
    stmt = select(SlaReport).order_by(SlaReport.period.desc(), SlaReport.organisation_id)
    if not actor.in_group("auditor", "administrator"):
        ids = list(cmdb.org_subtree(actor.organisation_id))
        stmt = stmt.where(SlaReport.organisation_id.in_(ids))
    return list(db.session.scalars(stmt))
