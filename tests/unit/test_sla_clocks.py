"""SLA clocks: targets from the DMN, start/pause/resume/stop/retarget with an injected clock, and the
incident lifecycle rules (start when recorded, response stops at classification, resolve pauses while the
requester confirms and stops when confirmed, support tasks due at the resolve deadline)."""
from __future__ import annotations

from datetime import datetime
from itertools import product
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.models import Incident, Organisation, SlaClock
from app.services import incident as incident_service
from app.services import instances, sla
from app.services.errors import Forbidden, ValidationFailed
from tests.integration.helpers import ready_task, worker_for
from tests.support import PATHS, start_data

SH = ZoneInfo("Asia/Shanghai")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=SH)


def test_targets_cover_every_combination(app):
    with app.app_context():
        seen = set()
        for priority, service_class in product(("P1", "P2", "P3", "P4"),
                                               ("infrastructure", "application", "end_user", "security")):
            t = sla.targets(priority, service_class)
            assert 0 < t["response"] < t["resolve"]
            seen.add(t["rule"])
        assert len(seen) == 16
        assert sla.targets("P1", "security")["resolve"] < sla.targets("P4", "security")["resolve"]
        with pytest.raises(ValidationFailed):
            sla.targets("P9", "security")


def _start(db, user, **over):
    reporter = user("reporter")
    instance = incident_service.report_fault(reporter, start_data(**over))
    db.session.flush()
    return instance


def _clock(db, instance, now, target=120, started=None):
    return sla.start_clock(instance, "resolve", started_at=started or at("2026-11-25 09:00"),
                           target_minutes=target, priority="P2", service_class="application", now=now)


def test_clock_pause_resume_stop_with_frozen_time(db, user):
    instance = _start(db, user)
    clock = _clock(db, instance, now=at("2026-11-25 09:00"))
    assert clock.deadline_at == at("2026-11-25 11:00")
    assert clock.warning_at == at("2026-11-25 10:30")
    sla.pause_clock(clock, "waiting_vendor", at("2026-11-25 10:00"))
    assert clock.status == "paused" and clock.deadline_at is None  # unknown while paused
    fig = sla.figures(clock, at("2026-11-25 16:00"))
    assert fig.elapsed_minutes == 60 and not fig.breached and fig.paused_minutes == 120 + 150
    sla.resume_clock(clock, at("2026-11-26 09:00"))
    # 60 minutes used; 60 remain from Thursday 09:00.
    assert clock.deadline_at == at("2026-11-26 10:00")
    sla.stop_clock(clock, at("2026-11-26 09:30"))
    fig = sla.figures(clock, at("2026-12-31 00:00"))
    assert fig.elapsed_minutes == 90 and fig.breached is False and clock.breached_at is None
    assert [p["state"] for p in sla.timeline(clock, at("2026-12-31 00:00"))] == ["running", "paused", "running",
                                                                                  "warning"]


def test_breach_is_derived_and_timeline_shows_it(db, user):
    instance = _start(db, user)
    clock = _clock(db, instance, now=at("2026-11-25 09:00"), target=60)
    fig = sla.figures(clock, at("2026-11-25 11:00"))
    assert fig.breached and fig.warned and fig.elapsed_minutes == 120 and fig.remaining_minutes == -60
    sla.stop_clock(clock, at("2026-11-25 11:00"))
    assert clock.breached_at == at("2026-11-25 10:00")
    states = [p["state"] for p in sla.timeline(clock, at("2026-11-25 12:00"))]
    assert states == ["running", "warning", "breached"]


def test_retarget_keeps_elapsed_and_pauses(db, user):
    instance = _start(db, user)
    clock = _clock(db, instance, now=at("2026-11-25 09:00"), target=240)
    sla.pause_clock(clock, "waiting_user", at("2026-11-25 10:00"))
    sla.resume_clock(clock, at("2026-11-25 11:00"))
    assert clock.deadline_at == at("2026-11-25 15:30")  # 9-10, 11-12, 13:30-15:30
    sla.retarget(clock, priority="P1", service_class="application", target_minutes=120, now=at("2026-11-25 11:30"))
    assert clock.deadline_at == at("2026-11-25 12:00")  # same start, same pause, shorter target
    assert len(clock.pauses) == 1 and sla.figures(clock, at("2026-11-25 11:30")).elapsed_minutes == 90
    assert [h["target_minutes"] for h in clock.history] == [240, 120]


def test_pause_reason_is_checked(db, user):
    instance = _start(db, user)
    clock = _clock(db, instance, now=at("2026-11-25 09:00"))
    with pytest.raises(ValidationFailed):
        sla.pause_clock(clock, "lunch", at("2026-11-25 10:00"))


def _complete(db, user, instance, spec_id, data):
    task = ready_task(instance.id)
    assert task.spec_id == spec_id
    instances.complete_task(task.id, user(worker_for(task)), data)
    db.session.flush()
    return task


def test_incident_lifecycle_rules(db, user):
    start, steps = PATHS["no_problem_submits_knowledge"]
    instance = _start(db, user)
    assert sla.clocks_of(instance) == []  # not recorded yet
    _complete(db, user, instance, *steps[0])
    clocks = {c.kind: c for c in sla.clocks_of(instance)}
    incident = db.session.scalar(select(Incident).where(Incident.instance_id == instance.id))
    assert set(clocks) == {"response", "resolve"}
    expected = sla.targets(incident.priority, incident.service_class)
    assert clocks["response"].target_minutes == expected["response"]
    assert clocks["resolve"].target_minutes == expected["resolve"]
    assert clocks["resolve"].started_at == incident.reported_at
    _complete(db, user, instance, *steps[1])  # classification: the first support action
    assert clocks["response"].status == "stopped" and clocks["resolve"].status == "running"
    support = ready_task(instance.id)
    assert support.spec_id == "investigate_and_diagnose"
    assert support.due_at == clocks["resolve"].deadline_at is not None
    for step in steps[2:5]:
        _complete(db, user, instance, *step)
    assert ready_task(instance.id).spec_id == "confirm_resolution"
    assert clocks["resolve"].status == "paused" and clocks["resolve"].pauses[0].reason == "waiting_user"
    _complete(db, user, instance, *steps[5])  # confirmed
    assert clocks["resolve"].status == "stopped" and clocks["resolve"].pauses[0].ended_at is not None
    kinds = [e.type for e in instance_events(db, instance) if e.type.startswith("sla_")]
    assert kinds == ["sla_clock_started", "sla_clock_started", "sla_clock_stopped", "sla_clock_paused",
                     "sla_clock_stopped"]


def test_not_confirmed_resumes_the_clock(db, user):
    instance = _start(db, user)
    for step in [("detect_and_record", PATHS["no_problem_submits_knowledge"][1][0][1]),
                 *PATHS["no_problem_submits_knowledge"][1][1:5]]:
        _complete(db, user, instance, *step)
    resolve = {c.kind: c for c in sla.clocks_of(instance)}["resolve"]
    assert resolve.status == "paused"
    _complete(db, user, instance, "confirm_resolution", {"confirmed": False, "feedback": "仍然存在",
                                                         "satisfaction": 2})
    assert resolve.status == "running" and resolve.pauses[0].ended_at is not None
    assert ready_task(instance.id).due_at == resolve.deadline_at


def test_out_of_scope_has_no_clock(db, user):
    start, steps = PATHS["out_of_scope"]
    instance = _start(db, user)
    _complete(db, user, instance, *steps[0])
    assert sla.clocks_of(instance) == [] and instance.status == "completed"


def test_calendar_per_organisation(db, user):
    county = user("reporter").organisation
    spec = sla.calendar_spec_for(county.id)
    assert spec["timezone"] == "Asia/Shanghai" and "2026-10-01" in spec["holidays"]
    with pytest.raises(Forbidden):
        sla.set_calendar(county, user("reporter"), spec)
    national = db.session.scalar(select(Organisation).where(Organisation.parent_id.is_(None)))
    sla.set_calendar(national, user("admin"), {**spec, "holidays": ["2026-11-26"]})
    # The county inherits its ancestor's calendar until it has its own.
    assert sla.calendar_spec_for(county.id)["holidays"] == ["2026-11-26"]
    with pytest.raises(ValidationFailed):
        sla.set_calendar(county, user("admin"), {"timezone": "Nowhere/Else"})


def instance_events(db, instance):
    from app.models import Event

    return db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)).all()


def test_clock_rows_are_queryable(db, user):
    instance = _start(db, user)
    _clock(db, instance, now=at("2026-11-25 09:00"))
    db.session.flush()
    due = db.session.scalars(select(SlaClock).where(SlaClock.deadline_at <= at("2026-11-25 11:00"))).all()
    assert [c.instance_id for c in due] == [instance.id]


def test_priority_change_retargets_and_moves_the_support_due_date(db, user):
    from app.engine.runtime import StepEvent

    start, steps = PATHS["no_problem_submits_knowledge"]
    instance = _start(db, user)
    for step in steps[:2]:
        _complete(db, user, instance, *step)
    incident = db.session.scalar(select(Incident).where(Incident.instance_id == instance.id))
    clocks = {c.kind: c for c in sla.clocks_of(instance)}
    resolve = clocks["resolve"]
    before_start, before_target = resolve.started_at, resolve.target_minutes
    new_priority = "P4" if incident.priority != "P4" else "P1"
    step = [StepEvent("element_completed", "reclassify", detail={"changes": {"priority": new_priority}})]
    sla.on_incident_step(instance, incident, step, {"priority": new_priority,
                                                    "service_class": incident.service_class})
    expected = sla.targets(new_priority, incident.service_class)
    assert resolve.target_minutes == expected["resolve"] != before_target
    assert resolve.started_at == before_start and len(resolve.history) == 2
    assert ready_task(instance.id).due_at == resolve.deadline_at
