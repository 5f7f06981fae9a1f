"""Service quality indicators (spec 7.2, 运维服务质量指标) and process statistics (spec 6.2: 查询统计, 管理报表).

Every figure is computed from the records the processes already keep, for one organisation (and, by default,
every organisation below it) and one period in that organisation's calendar timezone:

* incidents (`incident`), their SLA clocks (`sla_clock`, judged exactly as the SLA reports judge them) and
  the users' confirmations (the `task_completed` events of 用户确认解决);
* the other processes' instances (`process_instance`) and the values their steps set, read from the event
  log (`instance_started` start data and each step's `changes`), so a figure can be traced to the events
  that made it and no process needs a table of its own.

Targets are per organisation (spec 7.2: "可定制、可扩充"): an organisation's own target, else its nearest
ancestor's, else the built-in default below. Cancelled and withdrawn cases count nowhere.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from ..extensions import db
from ..models import Event, HumanTask, Incident, KpiTarget, Organisation, ProcessInstance, SlaClock, User
from ..models.base import utcnow
from . import cases, sla
from .accounts import record_security_event
from .cases import is_staff
from .cmdb import org_subtree
from .errors import Forbidden, NotFound, ValidationFailed

SECTIONS: dict[str, Any] = {
    "monitoring": _l("Monitoring services"),
    "maintenance": _l("Routine maintenance services"),
    "repair": _l("Repair and support services"),
    "end_user": _l("End-user services"),
    "change": _l("Change management"),
    "security": _l("Security management services"),
}
UNITS = ("percent", "minutes", "score", "count")
TARGET_EDITORS = ("administrator", *sla.SLA_STAFF)
MAX_DAYS = 366
CHANGE_PROCESSES = ("change", "emergency_change")
# Incident states that mean the fault was resolved (user confirmation pending or given).
RESOLVED_STATES = frozenset({"resolved", "closed"})
DESK_SOLUTION_STEP = "record_desk_solution"  # incident.bpmn: the desk's own solution, no support group


@dataclass(frozen=True)
class Indicator:
    code: str
    section: str
    name: Any  # lazy string: the spec's name
    unit: str
    better: str  # "higher" | "lower": which side of the target meets it
    default_target: float | None
    basis: Any  # lazy string: what is counted


INDICATORS: tuple[Indicator, ...] = (
    Indicator("proactive_discovery_rate", "monitoring", _l("Proactive exception discovery rate"), "percent",
              "higher", 30.0, _l("Incidents opened from monitoring alerts, of all incidents reported")),
    Indicator("work_plan_timely_rate", "maintenance", _l("Work plan on-time completion rate"), "percent", "higher",
              95.0, _l("Scheduled work (processes started by their schedule) due in the period and completed by "
                       "the next scheduled start, of all due and decided")),
    Indicator("problem_resolution_rate", "maintenance", _l("Problem resolution rate"), "percent", "higher", 80.0,
              _l("Problems opened in the period and closed, of those opened (cancelled ones excluded)")),
    Indicator("incident_count", "repair", _l("Incidents reported"), "count", "lower", None,
              _l("Incidents reported in the period, in scope and not withdrawn")),
    Indicator("timely_response_rate", "repair", _l("Timely response rate"), "percent", "higher", 95.0,
              _l("Response clocks stopped within target, of those decided (SLA reports' rule)")),
    Indicator("timely_repair_rate", "repair", _l("Timely repair rate"), "percent", "higher", 90.0,
              _l("Resolution clocks stopped within target, of those decided (SLA reports' rule)")),
    Indicator("incident_resolution_rate", "repair", _l("Incident resolution rate"), "percent", "higher", 90.0,
              _l("Incidents reported in the period that are resolved or closed, of all reported")),
    Indicator("mean_response_minutes", "end_user", _l("Mean response time"), "minutes", "lower", 30.0,
              _l("Working minutes on the stopped response clocks, averaged")),
    Indicator("remote_resolution_rate", "end_user", _l("Remote resolution rate"), "percent", "higher", 60.0,
              _l("Resolved incidents the service desk solved itself, without a support group or a site visit")),
    Indicator("mean_resolution_minutes", "end_user", _l("Mean time to resolve users' problems"), "minutes",
              "lower", 480.0, _l("Working minutes on the stopped resolution clocks, averaged")),
    Indicator("satisfaction", "end_user", _l("Service satisfaction"), "score", "higher", 4.0,
              _l("Users' satisfaction (1 to 5) given when confirming a resolution in the period, averaged")),
    Indicator("change_success_rate", "change", _l("Change success rate"), "percent", "higher", 95.0,
              _l("Changes implemented in the period whose result was successful, of all implemented")),
    Indicator("emergency_change_share", "change", _l("Emergency change share"), "percent", "lower", 10.0,
              _l("Changes started in the period and classified as emergency changes, of all changes started")),
    Indicator("security_incident_count", "security", _l("Security incidents"), "count", "lower", None,
              _l("Security incidents reported through the information security process in the period")),
)
BY_CODE = {i.code: i for i in INDICATORS}


@dataclass
class Figure:
    """One indicator's value for a scope and period; numerator/denominator say what it was computed from."""

    indicator: Indicator
    value: float | None
    numerator: float | None = None
    denominator: int | None = None
    target: float | None = None
    target_from: str | None = None  # organisation code that set the target; None: the built-in default

    @property
    def met(self) -> bool | None:
        if self.value is None or self.target is None:
            return None
        return self.value >= self.target if self.indicator.better == "higher" else self.value <= self.target


@dataclass
class Period:
    start: datetime
    end: datetime  # exclusive
    label: str  # "2026-11" or "2026-11-01..2026-11-15"


@dataclass
class Report:
    organisation: Organisation
    include_below: bool
    period: Period
    generated_at: datetime
    figures: list[Figure]
    incidents_by_category: list[dict[str, Any]] = field(default_factory=list)
    changes_by_category: list[dict[str, Any]] = field(default_factory=list)
    processes: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "organisation": {"code": self.organisation.code, "name": self.organisation.name,
                             "level": self.organisation.level},
            "include_below": self.include_below,
            "period": {"label": self.period.label, "start": self.period.start.isoformat(),
                       "end": self.period.end.isoformat()},
            "generated_at": self.generated_at.isoformat(),
            "indicators": [{
                "code": f.indicator.code, "section": f.indicator.section, "name": str(f.indicator.name),
                "unit": f.indicator.unit, "better": f.indicator.better, "value": f.value,
                "numerator": f.numerator, "denominator": f.denominator, "target": f.target,
                "target_from": f.target_from, "met": f.met} for f in self.figures],
            "incidents_by_category": self.incidents_by_category,
            "changes_by_category": self.changes_by_category,
            "processes": self.processes,
        }


# --------------------------------------------------------------------------- who

def may_view(user: User) -> bool:
    """Staff, auditors and administrators; requesters (no group) do not see statistics."""
    return is_staff(user) or user.in_group("auditor", "administrator")


def may_edit_targets(user: User) -> bool:
    return user.in_group(*TARGET_EDITORS)


def _require_view(user: User) -> None:
    if not may_view(user):
        raise Forbidden(_("Service statistics are for staff, auditors and administrators."))


def organisations_for(user: User) -> list[Organisation]:
    """Organisations whose statistics the user may see: the case search's (theirs and those below; all for
    auditors and administrators)."""
    _require_view(user)
    return cases.organisations_for(user)


def subtree_ids(organisation_id: int) -> list[int]:
    """The organisation and every organisation below it (cmdb.org_subtree: one read of the tree)."""
    return sorted(org_subtree(organisation_id))


def organisation_for(user: User, code: str | None) -> Organisation:
    """The organisation a report or target form is for: the user's own, or one by code the user may see."""
    _require_view(user)
    if not code:
        return user.organisation
    org = db.session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(_("Organisation %(id)s does not exist.", id=code))
    if not user.in_group("auditor", "administrator") and org.id not in subtree_ids(user.organisation_id):
        raise Forbidden(_("You may only see the statistics of your organisation and those below it."))
    return org


# --------------------------------------------------------------------------- periods

def _tz(organisation: Organisation) -> ZoneInfo:
    return ZoneInfo(sla.calendar_spec_for(organisation.id).get("timezone") or "Asia/Shanghai")


def parse_period(organisation: Organisation, period: str | None = None, start: str | None = None,
                 end: str | None = None, now: datetime | None = None) -> Period:
    """A month (YYYY-MM) or a range of days (from, to inclusive) in the organisation's timezone; default: this month."""
    tz = _tz(organisation)
    if start or end:
        errors: dict[str, list[str]] = {}
        days = {}
        for name, text in (("from", start), ("to", end)):
            try:
                days[name] = date.fromisoformat(text or "")
            except ValueError:
                errors[name] = [_("Give a date as YYYY-MM-DD.")]
        if not errors and days["to"] < days["from"]:
            errors["to"] = [_("The end date is before the start date.")]
        if not errors and (days["to"] - days["from"]).days >= MAX_DAYS:
            errors["to"] = [_("A period may span at most %(days)s days.", days=MAX_DAYS)]
        if errors:
            raise ValidationFailed(_("Check the period."), errors)
        return Period(datetime.combine(days["from"], time.min, tz),
                      datetime.combine(days["to"] + timedelta(days=1), time.min, tz),
                      f"{days['from'].isoformat()}..{days['to'].isoformat()}")
    if not period:
        local = (now or utcnow()).astimezone(tz)
        period = f"{local.year:04d}-{local.month:02d}"
    try:
        year, month = (int(x) for x in period.split("-"))
        if not (len(period) == 7 and 1 <= month <= 12 and 2000 <= year <= 2999):
            raise ValueError(period)
    except ValueError:
        raise ValidationFailed(_("Check the period."), {"period": [_("Give a month as YYYY-MM.")]}) from None
    first = date(year, month, 1)
    after = date(year + (month == 12), month % 12 + 1, 1)
    return Period(datetime.combine(first, time.min, tz), datetime.combine(after, time.min, tz), period)


# --------------------------------------------------------------------------- targets

def targets_for(organisation: Organisation) -> dict[str, tuple[float | None, str | None]]:
    """Each indicator's target for the organisation, with the code of the organisation that set it."""
    chain = [organisation, *organisation.ancestors()]
    rows = db.session.scalars(select(KpiTarget).where(KpiTarget.organisation_id.in_([o.id for o in chain])))
    own: dict[tuple[int, str], float] = {(r.organisation_id, r.indicator): r.target for r in rows}
    result: dict[str, tuple[float | None, str | None]] = {}
    for ind in INDICATORS:
        result[ind.code] = (ind.default_target, None)
        for org in chain:  # nearest first
            if (org.id, ind.code) in own:
                result[ind.code] = (own[(org.id, ind.code)], org.code)
                break
    return result


def own_targets(organisation: Organisation) -> dict[str, float]:
    return {r.indicator: r.target for r in db.session.scalars(
        select(KpiTarget).where(KpiTarget.organisation_id == organisation.id))}


def _check_target(ind: Indicator, text: Any) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError(_("Give a number.")) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(_("Give a number."))
    low, high = {"percent": (0, 100), "score": (1, 5)}.get(ind.unit, (0, 10**7))
    if not low <= value <= high:
        raise ValueError(_("Give a number from %(low)s to %(high)s.", low=low, high=high))
    return value


def set_targets(organisation: Organisation, actor: User, values: dict[str, Any]) -> dict[str, Any]:
    """Set or clear (empty value: inherit again) the organisation's own targets; returns what changed."""
    if not may_edit_targets(actor):
        raise Forbidden(_("Only administrators and service-level staff may set indicator targets."))
    if organisation.id not in subtree_ids(actor.organisation_id) and not actor.in_group("administrator"):
        raise Forbidden(_("You may only set the targets of your organisation and those below it."))
    errors: dict[str, list[str]] = {}
    wanted: dict[str, float | None] = {}
    for code, text in values.items():
        ind = BY_CODE.get(code)
        if ind is None:
            errors[code] = [_("Unknown indicator.")]
            continue
        if text is None or str(text).strip() == "":
            wanted[code] = None
            continue
        try:
            wanted[code] = _check_target(ind, text)
        except ValueError as exc:
            errors[code] = [str(exc)]
    if errors:
        raise ValidationFailed(_("Check the targets."), errors)
    rows = {r.indicator: r for r in db.session.scalars(
        select(KpiTarget).where(KpiTarget.organisation_id == organisation.id))}
    changes: dict[str, Any] = {}
    for code, value in wanted.items():
        row = rows.get(code)
        if value is None:
            if row is not None:
                changes[code] = [row.target, None]
                db.session.delete(row)
        elif row is None:
            db.session.add(KpiTarget(organisation_id=organisation.id, indicator=code, target=value,
                                     updated_by_id=actor.id))
            changes[code] = [None, value]
        elif row.target != value:
            changes[code] = [row.target, value]
            row.target, row.updated_by_id = value, actor.id
    if changes:
        record_security_event("kpi_targets_changed", actor.username, actor, organisation=organisation.code,
                              changes=changes)
    db.session.flush()
    return changes


# --------------------------------------------------------------------------- figures

def _rate(numerator: int, denominator: int) -> float | None:
    return round(100 * numerator / denominator, 1) if denominator else None


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 1) if values else None


def _field_values(instance_ids: Iterable[int], names: tuple[str, ...],
                  until: datetime | None = None) -> dict[int, dict[str, tuple[Any, datetime]]]:
    """The last value each instance's steps gave to each named field (and when), from the event log."""
    ids = list(instance_ids)
    found: dict[int, dict[str, tuple[Any, datetime]]] = defaultdict(dict)
    if not ids:
        return found
    stmt = (select(Event.instance_id, Event.type, Event.data, Event.created_at)
            .where(Event.instance_id.in_(ids),
                   Event.type.in_(("instance_started", "task_completed", "element_completed")))
            .order_by(Event.instance_id, Event.seq))
    if until is not None:
        stmt = stmt.where(Event.created_at < until)
    for instance_id, kind, data, at in db.session.execute(stmt):
        values = (data or {}).get("start_data" if kind == "instance_started" else "changes") or {}
        for name in names:
            if name in values and values[name] is not None:
                found[instance_id][name] = (values[name], at)
    return found


class _Scope:
    """The organisations and period one report covers, and the queries every figure shares."""

    def __init__(self, organisation: Organisation, include_below: bool, period: Period, now: datetime):
        self.org_ids = subtree_ids(organisation.id) if include_below else [organisation.id]
        self.period, self.now = period, now
        self.at = min(now, period.end)

    def incidents(self) -> list[Incident]:
        return list(db.session.scalars(
            select(Incident).join(ProcessInstance, Incident.instance_id == ProcessInstance.id).where(
                Incident.organisation_id.in_(self.org_ids),
                Incident.reported_at >= self.period.start, Incident.reported_at < self.period.end,
                ProcessInstance.status != "cancelled", Incident.status != "out_of_scope")))

    def clocks(self, kind: str) -> list[tuple[str, str | None, int]]:
        """(status, outcome, elapsed working minutes) of the clocks started in the period.

        A stopped clock's figures were computed and stored when it stopped (`sla.refresh`: deadline and elapsed
        minutes, from its frozen calendar and pauses), so it is judged from those columns without reading its
        calendar again; the rest, and the one case the stored minutes cannot settle (stopped in the very minute
        of its target), go through `sla.clock_outcome`, the SLA reports' own rule.
        """
        rows = db.session.execute(select(
            SlaClock.id, SlaClock.status, SlaClock.target_minutes, SlaClock.stopped_at, SlaClock.deadline_at,
            SlaClock.elapsed_minutes).where(
            SlaClock.organisation_id.in_(self.org_ids), SlaClock.kind == kind,
            SlaClock.started_at >= self.period.start, SlaClock.started_at < self.period.end))
        result: list[tuple[str, str | None, int]] = []
        unsettled: list[int] = []
        for clock_id, status, target, stopped_at, deadline_at, elapsed in rows:
            if status == "cancelled":
                result.append((status, None, 0))
            elif status == "stopped" and deadline_at is not None and stopped_at is not None \
                    and stopped_at <= deadline_at:
                result.append((status, "achieved", elapsed))
            elif status == "stopped" and elapsed > target:
                result.append((status, "breached", elapsed))
            else:
                unsettled.append(clock_id)
        calendars: dict[str, Any] = {}  # most clocks froze the same calendar: build it once
        for start in range(0, len(unsettled), 500):
            for clock in db.session.scalars(select(SlaClock).options(selectinload(SlaClock.pauses)).where(
                    SlaClock.id.in_(unsettled[start:start + 500]))):
                if clock.status == "stopped":  # stopped in the very minute of its target: the full rule
                    outcome, fig = sla.clock_outcome(clock, self.at)
                    result.append((clock.status, outcome, fig.elapsed_minutes if fig is not None else 0))
                else:  # open clocks count in no mean: their verdict is enough
                    result.append((clock.status, sla.outcome_at(clock, self.at, calendars), 0))
        return result

    def instances(self, process_ids: tuple[str, ...]) -> list[ProcessInstance]:
        return list(db.session.scalars(select(ProcessInstance).where(
            ProcessInstance.process_id.in_(process_ids), ProcessInstance.organisation_id.in_(self.org_ids),
            ProcessInstance.created_at >= self.period.start, ProcessInstance.created_at < self.period.end,
            ProcessInstance.status != "cancelled")))

    def instances_touched(self, process_ids: tuple[str, ...]) -> list[int]:
        """Instances of the processes in scope that have any step in the period (started earlier or not)."""
        # From the few instances of these processes to their events (indexed by instance), not the other way.
        return list(db.session.scalars(
            select(Event.instance_id).distinct().join(ProcessInstance, Event.instance_id == ProcessInstance.id).where(
                ProcessInstance.process_id.in_(process_ids), ProcessInstance.organisation_id.in_(self.org_ids),
                ProcessInstance.status != "cancelled", ProcessInstance.created_at < self.period.end,
                Event.created_at >= self.period.start, Event.created_at < self.period.end)))


def _clock_figures(scope: _Scope, kind: str) -> tuple[Figure, Figure]:
    clocks = scope.clocks(kind)
    achieved = sum(1 for _s, o, _m in clocks if o == "achieved")
    decided = sum(1 for _s, o, _m in clocks if o in ("achieved", "breached"))
    stopped = [m for status, o, m in clocks if o is not None and status == "stopped"]
    rate_code, mean_code = {"response": ("timely_response_rate", "mean_response_minutes"),
                            "resolve": ("timely_repair_rate", "mean_resolution_minutes")}[kind]
    return (Figure(BY_CODE[rate_code], _rate(achieved, decided), achieved, decided),
            Figure(BY_CODE[mean_code], _mean([float(m) for m in stopped]),
                   float(sum(stopped)) if stopped else None, len(stopped)))


def _incident_figures(scope: _Scope, incidents: list[Incident]) -> list[Figure]:
    total = len(incidents)
    resolved = [i for i in incidents if i.status in RESOLVED_STATES]
    # Solved at the desk: the process passed 记录服务台解决方案 (the desk's solution), never a support group's.
    at_desk = len(set(db.session.scalars(select(Event.instance_id).where(
        Event.instance_id.in_([i.instance_id for i in resolved]), Event.type == "element_completed",
        Event.spec_id == DESK_SOLUTION_STEP)))) if resolved else 0
    from_monitoring = sum(1 for i in incidents if i.channel == "system")
    return [
        Figure(BY_CODE["incident_count"], float(total), float(total), None),
        Figure(BY_CODE["incident_resolution_rate"], _rate(len(resolved), total), len(resolved), total),
        Figure(BY_CODE["remote_resolution_rate"], _rate(at_desk, len(resolved)), at_desk, len(resolved)),
        Figure(BY_CODE["proactive_discovery_rate"], _rate(from_monitoring, total), from_monitoring, total),
    ]


def _satisfaction(scope: _Scope) -> Figure:
    """The last satisfaction each case's user gave in the period (a case confirmed twice counts once)."""
    rows = db.session.execute(
        select(Event.instance_id, Event.data).join(ProcessInstance, Event.instance_id == ProcessInstance.id).where(
            Event.type == "task_completed", Event.spec_id == "confirm_resolution",
            Event.created_at >= scope.period.start, Event.created_at < scope.period.end,
            ProcessInstance.organisation_id.in_(scope.org_ids), ProcessInstance.status != "cancelled")
        .order_by(Event.instance_id, Event.seq))
    last: dict[int, int] = {}
    for instance_id, data in rows:
        score = ((data or {}).get("form_data") or {}).get("satisfaction")
        if isinstance(score, int) and not isinstance(score, bool) and 1 <= score <= 5:
            last[instance_id] = score
    scores = list(last.values())
    return Figure(BY_CODE["satisfaction"], _mean([float(s) for s in scores]),
                  float(sum(scores)) if scores else None, len(scores))


def _work_plan_figure(scope: _Scope) -> Figure:
    """A scheduled case is due one schedule step after it started (before the next one starts): on time when
    completed by then, late when completed later or still open after it; not yet decided while open and not due."""
    from ..models import ProcessSchedule
    from .schedules import parse_schedule

    # Only a process with a schedule row has been started by a schedule (cheaper than reading the diagrams).
    process_ids = list(db.session.scalars(select(ProcessSchedule.process_id).distinct()))
    earliest = scope.period.start - timedelta(days=MAX_DAYS + 31)  # the longest step a schedule takes (R/P1Y)
    rows = db.session.execute(
        select(ProcessInstance, Event.data).join(Event, Event.instance_id == ProcessInstance.id).where(
            ProcessInstance.process_id.in_(process_ids), ProcessInstance.organisation_id.in_(scope.org_ids),
            ProcessInstance.status != "cancelled", ProcessInstance.created_at >= earliest,
            ProcessInstance.created_at < scope.period.end, Event.type == "instance_started"))
    on_time = decided = 0
    for instance, data in rows:
        schedule = ((data or {}).get("started_by") or {}).get("schedule")
        if not schedule:
            continue  # started by hand: not planned work
        try:
            due = instance.created_at + parse_schedule(schedule)
        except ValueError:
            continue
        if not scope.period.start <= due < scope.period.end:
            continue
        done = instance.completed_at if instance.status == "completed" else None
        if done is not None and done <= due:
            on_time += 1
            decided += 1
        elif done is not None or due <= scope.now:
            decided += 1
    return Figure(BY_CODE["work_plan_timely_rate"], _rate(on_time, decided), on_time, decided)


def _problem_figure(scope: _Scope) -> Figure:
    problems = scope.instances(("problem",))
    closed = sum(1 for p in problems if p.status == "completed" and p.completed_at is not None
                 and p.completed_at < scope.period.end)
    return Figure(BY_CODE["problem_resolution_rate"], _rate(closed, len(problems)), closed, len(problems))


def _change_figures(scope: _Scope) -> tuple[list[Figure], list[dict[str, Any]]]:
    started = scope.instances(CHANGE_PROCESSES)
    touched = scope.instances_touched(CHANGE_PROCESSES)
    values = _field_values(set(touched) | {i.id for i in started}, ("implementation_result", "change_category"),
                           until=scope.period.end)
    # An emergency change runs inside its change (a call activity): its category is the change's data.
    emergency = sum(1 for i in started if _category(i.process_id, values.get(i.id, {})) == "emergency")
    kinds = dict(db.session.execute(select(ProcessInstance.id, ProcessInstance.process_id).where(
        ProcessInstance.id.in_(list(values)))).all()) if values else {}
    by_category: dict[str, dict[str, int]] = defaultdict(lambda: {"started": 0, "implemented": 0, "success": 0,
                                                                  "failed": 0})
    for instance in started:
        category = _category(instance.process_id, values.get(instance.id, {}))
        by_category[category]["started"] += 1
    implemented = success = 0
    for instance_id, fields in values.items():
        result = fields.get("implementation_result")
        if result is None or not scope.period.start <= result[1] < scope.period.end:
            continue  # implemented outside the period (or not yet)
        category = _category(kinds.get(instance_id, "change"), fields)
        row = by_category[category]
        row["implemented"] += 1
        implemented += 1
        if result[0] == "success":
            row["success"] += 1
            success += 1
        else:
            row["failed"] += 1
    table = [{"category": c, **r, "success_rate": _rate(r["success"], r["implemented"]),
              "failure_rate": _rate(r["failed"], r["implemented"])}
             for c, r in sorted(by_category.items(), key=lambda kv: _CATEGORY_ORDER.get(kv[0], 9))]
    return [Figure(BY_CODE["change_success_rate"], _rate(success, implemented), success, implemented),
            Figure(BY_CODE["emergency_change_share"], _rate(emergency, len(started)), emergency, len(started))], table


_CATEGORY_ORDER = {"minor": 0, "standard": 1, "major": 2, "emergency": 3, "unclassified": 4}


def _category(process_id: str, fields: dict[str, tuple[Any, datetime]]) -> str:
    if process_id == "emergency_change":
        return "emergency"
    value = fields.get("change_category")
    return str(value[0]) if value is not None else "unclassified"


def _security_figure(scope: _Scope) -> Figure:
    started = scope.instances(("security",))
    purposes = _field_values([i.id for i in started], ("purpose",))
    count = sum(1 for i in started if purposes.get(i.id, {}).get("purpose", (None,))[0] == "security_incident")
    return Figure(BY_CODE["security_incident_count"], float(count), float(count), None)


def _incidents_by_category(incidents: list[Incident]) -> list[dict[str, Any]]:
    table: dict[str, dict[str, Any]] = {}
    for i in incidents:
        row = table.setdefault(i.category or "", {"category": i.category or "", "P1": 0, "P2": 0, "P3": 0,
                                                  "P4": 0, "unprioritised": 0, "total": 0, "resolved": 0})
        row[i.priority if i.priority in ("P1", "P2", "P3", "P4") else "unprioritised"] += 1
        row["total"] += 1
        row["resolved"] += i.status in RESOLVED_STATES
    return [{**r, "resolution_rate": _rate(r["resolved"], r["total"])}
            for r in sorted(table.values(), key=lambda r: (-r["total"], r["category"]))]


def _process_statistics(scope: _Scope) -> list[dict[str, Any]]:
    """Per process (spec 6.2(1): 流程执行状况的查询统计): started, finished, cancelled, open, overdue, cycle time."""
    p = scope.period
    base = ProcessInstance.organisation_id.in_(scope.org_ids)
    stats: dict[str, dict[str, Any]] = defaultdict(lambda: {"started": 0, "completed": 0, "cancelled": 0,
                                                            "running": 0, "overdue_tasks": 0,
                                                            "mean_cycle_hours": None})
    for pid, count in db.session.execute(select(ProcessInstance.process_id, func.count()).where(
            base, ProcessInstance.created_at >= p.start, ProcessInstance.created_at < p.end)
            .group_by(ProcessInstance.process_id)):
        stats[pid]["started"] = count
    finished = db.session.execute(select(ProcessInstance.process_id, ProcessInstance.status,
                                         ProcessInstance.created_at, ProcessInstance.completed_at).where(
        base, ProcessInstance.completed_at >= p.start, ProcessInstance.completed_at < p.end))
    cycles: dict[str, list[float]] = defaultdict(list)
    for pid, status, created, completed in finished:
        if status == "completed":
            stats[pid]["completed"] += 1
            cycles[pid].append((completed - created).total_seconds() / 3600)
        elif status == "cancelled":
            stats[pid]["cancelled"] += 1
    for pid, count in db.session.execute(select(ProcessInstance.process_id, func.count()).where(
            base, ProcessInstance.status == "running").group_by(ProcessInstance.process_id)):
        stats[pid]["running"] = count
    for pid, count in db.session.execute(
            select(ProcessInstance.process_id, func.count())
            .join(HumanTask, HumanTask.instance_id == ProcessInstance.id)
            .where(base, HumanTask.state == "ready", HumanTask.due_at.is_not(None), HumanTask.due_at < scope.now)
            .group_by(ProcessInstance.process_id)):
        stats[pid]["overdue_tasks"] = count
    for pid, values in cycles.items():
        stats[pid]["mean_cycle_hours"] = _mean(values)
    return [{"process_id": pid, **row} for pid, row in sorted(stats.items())]


def _figures(scope: _Scope, incidents: list[Incident],
             targets: dict[str, tuple[float | None, str | None]]) -> tuple[list[Figure], list[dict[str, Any]]]:
    """Every indicator of a scope in the registry's order (the spec's sections), with its target; and the changes'
    table, which comes out of the same reading of the change events."""
    response_rate, response_mean = _clock_figures(scope, "response")
    repair_rate, repair_mean = _clock_figures(scope, "resolve")
    change_figs, change_table = _change_figures(scope)
    found = {f.indicator.code: f for f in [
        *_incident_figures(scope, incidents), response_rate, response_mean, repair_rate, repair_mean,
        _satisfaction(scope), _work_plan_figure(scope), _problem_figure(scope), *change_figs,
        _security_figure(scope)]}
    figures = []
    for ind in INDICATORS:
        fig = found[ind.code]
        fig.target, fig.target_from = targets[ind.code]
        figures.append(fig)
    return figures, change_table


def report(actor: User, organisation: str | None = None, *, period: str | None = None,
           start: str | None = None, end: str | None = None, include_below: bool = True,
           now: datetime | None = None) -> Report:
    """The indicators, their targets and the breakdowns for one organisation (and those below) and period."""
    org = organisation_for(actor, organisation)
    now = now or utcnow()
    span = parse_period(org, period, start, end, now)
    scope = _Scope(org, include_below, span, now)
    incidents = scope.incidents()
    figures, change_table = _figures(scope, incidents, targets_for(org))
    return Report(org, include_below, span, now, figures, _incidents_by_category(incidents),
                  change_table, _process_statistics(scope))


@dataclass
class Trend:
    organisation: Organisation
    include_below: bool
    periods: list[str]  # oldest first
    rows: list[tuple[Indicator, list[Figure]]]  # per indicator, one figure per period

    def as_dict(self) -> dict[str, Any]:
        return {"organisation": self.organisation.code, "include_below": self.include_below,
                "periods": self.periods,
                "indicators": [{"code": ind.code, "name": str(ind.name), "unit": ind.unit, "better": ind.better,
                                "values": [f.value for f in figs], "met": [f.met for f in figs],
                                "target": figs[-1].target if figs else None} for ind, figs in self.rows]}


def trend(actor: User, organisation: str | None = None, *, months: Any = 12, include_below: bool = True,
          now: datetime | None = None) -> Trend:
    """Each indicator month by month, the current month last (spec 7: improvement follows PDCA, which needs
    to see whether a change of practice moved the figures). Today's targets judge every month."""
    org = organisation_for(actor, organisation)
    try:
        count = int(months)
        if not 2 <= count <= 24:
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationFailed(_("Check the period."), {"months": [
            _("Give a number from %(low)s to %(high)s.", low=2, high=24)]}) from None
    now = now or utcnow()
    local = now.astimezone(_tz(org))
    labels = []
    year, month = local.year, local.month
    for _i in range(count):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    labels.reverse()
    targets = targets_for(org)
    per_period = []
    for label in labels:
        scope = _Scope(org, include_below, parse_period(org, label, now=now), now)
        per_period.append(_figures(scope, scope.incidents(), targets)[0])
    rows = [(ind, [figs[i] for figs in per_period]) for i, ind in enumerate(INDICATORS)]
    return Trend(org, include_below, labels, rows)
