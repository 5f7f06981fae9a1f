"""Service quality indicators (spec 7.2) from real cases driven through the processes: each figure, what it is
counted from, per-organisation targets with inheritance, periods, and who may see and set them."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.models import HumanTask, ProcessInstance, SecurityEvent, User
from app.models.base import utcnow
from app.services import cases, incident, kpi
from app.services.errors import Forbidden, NotFound, ValidationFailed
from app.services.instances import complete_task, start_instance
from tests.bpmn import test_change_paths as chg
from tests.bpmn import test_configuration_paths as cfg
from tests.bpmn import test_emergency_change_paths as emg
from tests.integration.helpers import worker_for
from tests.support import PATHS, record, start_data

SH = ZoneInfo("Asia/Shanghai")


def _steps(db, instance: ProcessInstance, steps: list[tuple]) -> ProcessInstance:
    """Complete each step's ready task as a demo user who may (the path helpers' data, as the forms accept it)."""
    for spec_id, data in steps:
        task = db.session.scalar(select(HumanTask).where(
            HumanTask.instance_id == instance.id, HumanTask.state == "ready", HumanTask.spec_id == spec_id))
        assert task is not None, (spec_id, [t.spec_id for t in db.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance.id, HumanTask.state == "ready"))])
        actor = db.session.scalar(select(User).where(User.username == worker_for(task)))
        complete_task(task.id, actor, data)
        db.session.flush()
    return instance


def _incident(db, user, path: str, *, satisfaction: int | None = None, **start) -> ProcessInstance:
    data, steps = PATHS[path]
    if satisfaction is not None:
        steps = [(s, {**d, "satisfaction": satisfaction}) if s == "confirm_resolution" else (s, d) for s, d in steps]
    instance = incident.record_incident(user("desk"), {**data, **start}, requester=user("reporter"))
    db.session.flush()
    return _steps(db, instance, steps)


def _figures(report: kpi.Report) -> dict[str, kpi.Figure]:
    return {f.indicator.code: f for f in report.figures}


@pytest.fixture
def cases_of_the_month(db, user):
    """Five incidents of the county this month, and what should not count."""
    _incident(db, user, "desk_solves", satisfaction=5)  # solved at the desk
    _incident(db, user, "no_problem_submits_knowledge", satisfaction=2)  # solved by line 1
    _incident(db, user, "out_of_scope")  # left out: not ours
    from_monitoring = incident.record_incident(user("desk"), start_data(channel="system"))
    _steps(db, from_monitoring, [("detect_and_record", record())])  # open: waits for the desk's classification
    withdrawn = incident.report_fault(user("reporter"), start_data())
    db.session.flush()
    _steps(db, withdrawn, [("detect_and_record", record())])
    cases.withdraw(withdrawn.id, user("reporter"), "故障已自行恢复")  # left out: withdrawn
    db.session.flush()


def test_incident_indicators(db, user, cases_of_the_month):
    figs = _figures(kpi.report(user("service_level_lead")))
    # Three incidents count: the desk's, line 1's and the one from monitoring.
    assert (figs["incident_count"].value, figs["incident_count"].denominator) == (3.0, None)
    rate = figs["incident_resolution_rate"]
    assert (rate.value, rate.numerator, rate.denominator) == (66.7, 2, 3)
    remote = figs["remote_resolution_rate"]  # the desk solved one of the two resolved
    assert (remote.value, remote.numerator, remote.denominator) == (50.0, 1, 2)
    proactive = figs["proactive_discovery_rate"]
    assert (proactive.value, proactive.numerator, proactive.denominator) == (33.3, 1, 3)
    sat = figs["satisfaction"]
    assert (sat.value, sat.denominator) == (3.5, 2)
    # The SLA reports' rule: the open monitoring incident's clocks are running, so not yet decided; the
    # withdrawn case's clocks were cancelled.
    for code in ("timely_response_rate", "timely_repair_rate"):
        assert (figs[code].value, figs[code].numerator, figs[code].denominator) == (100.0, 2, 2), code
    for code in ("mean_response_minutes", "mean_resolution_minutes"):
        assert figs[code].denominator == 2 and figs[code].value is not None and figs[code].value >= 0, code


def test_breakdowns_and_process_statistics(db, user, cases_of_the_month):
    report = kpi.report(user("service_level_lead"))
    by_category = {r["category"]: r for r in report.incidents_by_category}
    assert by_category["terminal"]["total"] == 1 and by_category["terminal"]["resolved"] == 1
    assert by_category["database"]["total"] == 2 and by_category["database"]["resolved"] == 1
    assert by_category["database"]["resolution_rate"] == 50.0
    assert sum(r["total"] for r in report.incidents_by_category) == 3
    assert sum(r[p] for r in report.incidents_by_category for p in ("P1", "P2", "P3", "P4", "unprioritised")) == 3
    (row,) = [r for r in report.processes if r["process_id"] == "incident"]
    # Every case started counts as started, whatever became of it; the withdrawn one counts as cancelled.
    assert (row["started"], row["completed"], row["cancelled"], row["running"]) == (5, 3, 1, 1)
    assert row["mean_cycle_hours"] is not None


def test_scope_organisations_and_below(db, user, cases_of_the_month):
    admin = user("admin")
    national = _figures(kpi.report(admin))  # the ministry and everything below it
    assert national["incident_count"].value == 3.0
    alone = _figures(kpi.report(admin, include_below=False))
    assert alone["incident_count"].value == 0.0 and alone["incident_resolution_rate"].value is None
    assert alone["incident_resolution_rate"].met is None  # nothing to count is not a failure
    assert _figures(kpi.report(user("desk_city")))["incident_count"].value == 3.0  # the county is below the city
    assert _figures(kpi.report(user("desk_city"), include_below=False))["incident_count"].value == 0.0


def test_period_bounds_in_the_organisation_timezone(db, user, cases_of_the_month):
    lead = user("service_level_lead")
    local = utcnow().astimezone(SH)
    this_month = f"{local.year:04d}-{local.month:02d}"
    assert _figures(kpi.report(lead, period=this_month))["incident_count"].value == 3.0
    assert _figures(kpi.report(lead, period="2025-01"))["incident_count"].value == 0.0
    day = local.date().isoformat()
    ranged = kpi.report(lead, start=day, end=day)
    assert ranged.period.label == f"{day}..{day}" and _figures(ranged)["incident_count"].value == 3.0
    span = kpi.parse_period(lead.organisation, "2026-12")
    assert span.start == datetime(2026, 12, 1, tzinfo=SH) and span.end == datetime(2027, 1, 1, tzinfo=SH)


@pytest.mark.parametrize(("args", "field"), [
    ({"period": "2026-13"}, "period"), ({"period": "26-11"}, "period"), ({"period": "x"}, "period"),
    ({"start": "2026-11-30", "end": "2026-11-01"}, "to"), ({"start": "2026-11-01"}, "to"),
    ({"start": "yesterday", "end": "2026-11-01"}, "from"), ({"start": "2025-01-01", "end": "2026-11-01"}, "to"),
])
def test_bad_periods_are_refused_naming_the_field(db, user, args, field):
    with pytest.raises(ValidationFailed) as exc:
        kpi.report(user("service_level_lead"), **args)
    assert field in exc.value.errors


def _change(db, user, start: dict, steps: list[tuple]) -> ProcessInstance:
    instance = start_instance("change", user("change_lead"), start)
    db.session.flush()
    return _steps(db, instance, steps)


def test_change_success_and_emergency_share(db, user):
    minor = chg.MINOR
    approved = [("assess_change", chg.assess(minor)), ("lead_approval", chg.lead(True)),
                ("schedule_and_assign", {**chg.schedule(), "implementer": "change_lead"})]
    _change(db, user, minor, [*approved, ("implement_change", chg.implement("success"))])
    _change(db, user, minor, [*approved, ("implement_change", chg.implement("failed"))])
    _change(db, user, minor, approved[:1])  # assessed, not yet implemented
    urgent = chg.EMERGENCY_BY_HAND
    _change(db, user, urgent, [
        ("assess_change", chg.assess(urgent)), ("ecab_authorise", emg.authorise()),
        ("plan_emergency_change", emg.plan("change_lead")), ("emergency_build", emg.build(False)),
        ("emergency_implement", emg.implement("success"))])
    report = kpi.report(user("change_lead"))
    figs = _figures(report)
    success = figs["change_success_rate"]
    assert (success.value, success.numerator, success.denominator) == (66.7, 2, 3)
    share = figs["emergency_change_share"]
    assert (share.value, share.numerator, share.denominator) == (25.0, 1, 4)
    rows = {r["category"]: r for r in report.changes_by_category}
    assert set(rows) == {"minor", "emergency"}
    assert {k: rows["minor"][k] for k in ("started", "implemented", "success", "failed")} == {
        "started": 3, "implemented": 2, "success": 1, "failed": 1}
    assert rows["minor"]["failure_rate"] == 50.0 and rows["emergency"]["success_rate"] == 100.0
    assert report.changes_by_category[0]["category"] == "minor"  # minor, standard, major, emergency


def test_problem_and_security_figures(db, user):
    start_instance("problem", user("problem_lead"), {
        "summary": "连接池反复耗尽", "symptoms": "每周一次超时", "category": "database", "impact": "medium",
        "urgency": "medium"})
    start_instance("security", user("security_lead"), {"purpose": "security_incident", "note": "异常登录"})
    start_instance("security", user("security_lead"), {"purpose": "risk_assessment"})
    db.session.flush()
    figs = _figures(kpi.report(user("service_level_lead")))
    problems = figs["problem_resolution_rate"]
    assert (problems.value, problems.numerator, problems.denominator) == (0.0, 0, 1)
    assert problems.met is False
    assert figs["security_incident_count"].value == 1.0


def test_targets_inherit_from_the_nearest_organisation(db, user):
    admin, lead = user("admin"), user("service_level_lead")
    county = lead.organisation
    province = county.parent.parent
    assert kpi.targets_for(county)["timely_response_rate"] == (95.0, None)  # the built-in default
    kpi.set_targets(province, admin, {"timely_response_rate": "98", "satisfaction": 4.5})
    assert kpi.targets_for(county)["timely_response_rate"] == (98.0, province.code)
    changes = kpi.set_targets(county, lead, {"timely_response_rate": "90", "satisfaction": ""})
    assert changes == {"timely_response_rate": [None, 90.0]}
    targets = kpi.targets_for(county)
    assert targets["timely_response_rate"] == (90.0, county.code)
    assert targets["satisfaction"] == (4.5, province.code)
    kpi.set_targets(county, lead, {"timely_response_rate": None})  # inherit again
    assert kpi.targets_for(county)["timely_response_rate"] == (98.0, province.code)
    logged = db.session.scalars(select(SecurityEvent).where(SecurityEvent.type == "kpi_targets_changed")).all()
    assert [e.data["organisation"] for e in logged] == [province.code, county.code, county.code]
    assert logged[-1].data["changes"] == {"timely_response_rate": [90.0, None]}


def test_targets_decide_met(db, user, cases_of_the_month):
    lead = user("service_level_lead")
    figs = _figures(kpi.report(lead))
    assert figs["incident_resolution_rate"].met is False  # 66.7 < 90 (default)
    assert figs["satisfaction"].met is False  # 3.5 < 4.0
    kpi.set_targets(lead.organisation, lead, {"incident_resolution_rate": "60", "satisfaction": "3.5",
                                             "incident_count": "2"})
    figs = _figures(kpi.report(lead))
    assert figs["incident_resolution_rate"].met is True and figs["satisfaction"].met is True
    assert figs["incident_count"].met is False  # lower is better: 3 incidents > 2


@pytest.mark.parametrize(("values", "field"), [
    ({"timely_response_rate": "101"}, "timely_response_rate"), ({"satisfaction": "6"}, "satisfaction"),
    ({"satisfaction": "0.5"}, "satisfaction"), ({"mean_response_minutes": "-1"}, "mean_response_minutes"),
    ({"mean_response_minutes": "abc"}, "mean_response_minutes"), ({"timely_repair_rate": "nan"}, "timely_repair_rate"),
    ({"no_such_indicator": "1"}, "no_such_indicator"),
])
def test_bad_targets_are_refused_and_nothing_is_saved(db, user, values, field):
    lead = user("service_level_lead")
    with pytest.raises(ValidationFailed) as exc:
        kpi.set_targets(lead.organisation, lead, {"incident_count": "5", **values})
    assert set(exc.value.errors) == {field}
    assert kpi.own_targets(lead.organisation) == {}


def test_who_may_see_and_set(db, user):
    with pytest.raises(Forbidden):
        kpi.report(user("reporter"))  # requesters: no statistics
    with pytest.raises(Forbidden):
        kpi.report(user("desk"), "city")  # the county's desk may not see the city
    with pytest.raises(NotFound):
        kpi.report(user("admin"), "nowhere")
    assert kpi.report(user("desk_city"), "county").organisation.code == "county"  # below one's own
    assert kpi.report(user("auditor"), "city").organisation.code == "city"
    for name in ("desk", "auditor", "line1"):
        with pytest.raises(Forbidden):
            kpi.set_targets(user(name).organisation, user(name), {"satisfaction": "4"})
    with pytest.raises(Forbidden):  # service-level staff set their own organisation's and below, not above
        kpi.set_targets(user("service_level_lead").organisation.parent, user("service_level_lead"),
                        {"satisfaction": "4"})
    assert [o.code for o in kpi.organisations_for(user("desk_city"))] == ["city", "county"]


def test_work_plan_on_time_completion(db, user):
    """The monthly configuration audit (R/P1M) is due a month after it starts: one done, one left open."""
    from dateutil.relativedelta import relativedelta

    from app.services import schedules

    t0 = utcnow()
    schedules.start_due(t0)  # the schedule rows
    assert schedules.start_due(t0 + relativedelta(years=1, minutes=1))["started"] >= 1
    assert schedules.start_due(t0 + relativedelta(years=1, months=1, minutes=2))["started"] >= 1
    county = user("configuration_lead").organisation
    audits = db.session.scalars(select(ProcessInstance).where(
        ProcessInstance.process_id == "configuration", ProcessInstance.organisation_id == county.id)
        .order_by(ProcessInstance.id)).all()
    assert len(audits) == 2
    _steps(db, audits[0], [("configuration_audit", {**cfg.audit(), "audit_trigger": "periodic"}),
                           ("configuration_report", cfg.report())])
    assert audits[0].status == "completed" and audits[1].status == "running"
    start_instance("configuration", user("configuration_lead"), {"purpose": "report"})  # by hand: not planned
    db.session.flush()
    due = audits[0].created_at + relativedelta(months=1)
    local = due.astimezone(SH)
    period = f"{local.year:04d}-{local.month:02d}"
    lead = user("service_level_lead")
    before_due = _figures(kpi.report(lead, period=period, include_below=False, now=due - relativedelta(days=1)))
    assert (before_due["work_plan_timely_rate"].numerator, before_due["work_plan_timely_rate"].denominator) == (1, 1)
    after = _figures(kpi.report(lead, period=period, include_below=False, now=due + relativedelta(days=1)))
    plan = after["work_plan_timely_rate"]
    assert (plan.value, plan.numerator, plan.denominator) == (50.0, 1, 2)  # the open one is late now
    this_month = _figures(kpi.report(lead, include_below=False))
    assert this_month["work_plan_timely_rate"].denominator == 0  # nothing was due yet


def test_trend_month_by_month(db, user, cases_of_the_month):
    lead = user("service_level_lead")
    result = kpi.trend(lead, months=3)
    local = utcnow().astimezone(SH)
    assert len(result.periods) == 3 and result.periods[-1] == f"{local.year:04d}-{local.month:02d}"
    assert result.periods == sorted(result.periods)
    rows = {ind.code: figs for ind, figs in result.rows}
    assert [f.value for f in rows["incident_count"]] == [0.0, 0.0, 3.0]
    assert [f.value for f in rows["incident_resolution_rate"]] == [None, None, 66.7]
    assert rows["incident_resolution_rate"][-1].met is False  # today's target, 90
    same = _figures(kpi.report(lead))
    assert all(rows[code][-1].value == same[code].value for code in rows)  # the last month is this month's report
    january = kpi.trend(lead, months=2, now=datetime(2026, 1, 15, tzinfo=SH))
    assert january.periods == ["2025-12", "2026-01"]
    for bad in (1, 25, "x"):
        with pytest.raises(ValidationFailed):
            kpi.trend(lead, months=bad)
    with pytest.raises(Forbidden):
        kpi.trend(user("reporter"))


def test_stored_figures_of_stopped_clocks_judge_as_the_sla_rule_does(db, user):
    """kpi reads a stopped clock's stored deadline and minutes instead of recomputing its calendar: for clocks
    stopped anywhere around their target (inside and outside working hours, paused or not) the outcome and the
    minutes are those of sla.clock_outcome."""
    import random
    from datetime import timedelta

    from app.models import SlaClock
    from app.services import sla

    rng = random.Random(7)
    start = datetime(2026, 11, 24, 9, 0, tzinfo=SH)  # a Tuesday morning
    made = []
    for i in range(60):
        instance = incident.report_fault(user("reporter"), start_data())  # one resolution clock per case
        db.session.flush()
        made.append(instance.id)
        target = rng.choice([30, 60, 240, 480])
        begin = start + timedelta(minutes=rng.randrange(0, 600))
        clock = sla.start_clock(instance, "resolve", started_at=begin, target_minutes=target, priority="P3",
                                service_class="application", now=begin)
        if i % 3 == 0:
            sla.pause_clock(clock, "waiting_user", begin + timedelta(minutes=10))
            if i % 9 != 0:  # a third of the paused ones stay paused
                sla.resume_clock(clock, begin + timedelta(minutes=10 + rng.randrange(0, 300)))
        if i % 2 == 0:  # half of them stopped, around their target; the others still open
            sla.stop_clock(clock, begin + timedelta(minutes=rng.randrange(0, 3 * target + 900)))
    db.session.flush()
    now = datetime(2026, 11, 24, 9, 0, tzinfo=SH) + timedelta(minutes=rng.randrange(0, 2000))
    org = user("reporter").organisation
    scope = kpi._Scope(org, False, kpi.parse_period(org, "2026-11"), now)
    fast = sorted((s, o, m if s == "stopped" else 0) for s, o, m in scope.clocks("resolve"))
    exact = []
    for clock in db.session.scalars(select(SlaClock).where(SlaClock.instance_id.in_(made))):
        outcome, fig = sla.clock_outcome(clock, now)
        exact.append((clock.status, outcome, fig.elapsed_minutes if clock.status == "stopped" else 0))
    assert fast == sorted(exact)
    # Every branch was exercised: stopped within and over target, open before and after its deadline, paused.
    assert {"achieved", "breached", "running"} <= {o for _s, o, _m in exact}
    assert {"stopped", "running", "paused"} <= {s for s, _o, _m in exact}


def test_an_open_clock_whose_deadline_ends_the_working_day_is_not_breached_that_evening(db, user):
    from app.services import sla

    instance = incident.report_fault(user("reporter"), start_data())
    db.session.flush()
    begin = datetime(2026, 11, 27, 16, 30, tzinfo=SH)  # a Friday: the day's work ends at 17:30
    clock = sla.start_clock(instance, "resolve", started_at=begin, target_minutes=60, priority="P3",
                            service_class="application", now=begin)
    assert clock.deadline_at == datetime(2026, 11, 27, 17, 30, tzinfo=SH)
    for at, verdict in ((datetime(2026, 11, 27, 17, 0, tzinfo=SH), "running"),
                        (datetime(2026, 11, 27, 20, 0, tzinfo=SH), "running"),  # after the deadline, no work since
                        (datetime(2026, 11, 30, 9, 1, tzinfo=SH), "breached")):  # Monday's first minute of work
        assert sla.outcome_at(clock, at) == sla.clock_outcome(clock, at)[0] == verdict, at
