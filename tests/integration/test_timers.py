"""Due timers: the table follows the engine after every step; the sweep fires each due timer once, with an
injected clock; the support-too-slow escalation reaches the incident lead once."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from app.jobs import timer_jobs
from app.models import DueTimer, Event, Notification
from app.services import incident as incident_service
from app.services import instances, timers
from tests.integration.helpers import ready_task, worker_for
from tests.support import ESCALATION_AFTER, PATHS, SLOW_SUPPORT_STEPS, start_data


def slow_incident(db, user):
    """An incident waiting in investigate_and_diagnose (its boundary timer armed), committed."""
    instance = incident_service.report_fault(user("reporter"), start_data())
    db.session.commit()
    for spec_id, data in SLOW_SUPPORT_STEPS:
        task = ready_task(instance.id)
        assert task.spec_id == spec_id
        instances.complete_task(task.id, user(worker_for(task)), data)
        db.session.commit()
    return instance


def rows(db, instance):
    return db.session.scalars(select(DueTimer).where(DueTimer.instance_id == instance.id)).all()


def test_due_timer_row_follows_the_engine(db, user):
    instance = slow_incident(db, user)
    (row,) = rows(db, instance)
    assert row.element_id == "support_too_slow" and row.fired is False
    hours = int(ESCALATION_AFTER[instance.priority][2:-1])
    assert timedelta(hours=hours - 1) < row.due_at - instance.created_at <= timedelta(hours=hours, minutes=1)
    # Finishing the investigation in time removes the timer: nothing is left to fire.
    task = ready_task(instance.id)
    instances.complete_task(task.id, user(worker_for(task)), PATHS["no_problem_submits_knowledge"][1][2][1])
    db.session.commit()
    assert rows(db, instance) == []


def test_sweep_fires_once_and_notifies_the_incident_lead(db, user):
    instance = slow_incident(db, user)
    (row,) = rows(db, instance)
    before = timer_jobs.sweep(now=(row.due_at - timedelta(seconds=1)).isoformat())
    assert before["fired"] == 0 and rows(db, instance)[0].fired is False
    counts = timer_jobs.sweep(now=(row.due_at + timedelta(seconds=1)).isoformat())
    assert counts["fired"] == 1
    again = timer_jobs.sweep(now=(row.due_at + timedelta(hours=1)).isoformat())
    assert again == {"due": 0, "fired": 0, "skipped": 0, "conflicts": 0}
    db.session.refresh(instance)
    types = [e.type for e in db.session.scalars(select(Event).where(Event.instance_id == instance.id))]
    assert types.count("timers_fired") == 1 and types.count("escalation_notified") == 1
    notes = db.session.scalars(select(Notification).where(Notification.instance_id == instance.id)).all()
    assert [(n.user.username, n.kind) for n in notes] == [("incident_lead", "support_too_slow")]
    assert instance.business_key in notes[0].subject
    # The task stays with the support group.
    assert ready_task(instance.id).spec_id == "investigate_and_diagnose"
    assert [r.fired for r in rows(db, instance)] == [True]


def test_a_claimed_row_is_not_claimed_again(db, user):
    instance = slow_incident(db, user)
    (row,) = rows(db, instance)
    now = row.due_at + timedelta(seconds=1)
    assert timers.due_rows(now) == [(row.id, instance.id)]
    assert timers.claim(row.id, now) is True
    assert timers.claim(row.id, now) is False  # a second worker finds nothing to claim
    assert timers.due_rows(now) == []


def test_in_process_round_keeps_a_timer_the_engine_says_is_not_due(app, db, user, monkeypatch):
    """What the server's jobs thread does each round. A row that claims to be due while the engine's timer is
    not (a stale row, a clock ahead) is rebuilt from the engine instead of being lost with the claim."""
    from app.jobs.inprocess import run_round

    monkeypatch.setitem(app.config, "REDIS_URL", None)
    instance = slow_incident(db, user)
    (row,) = rows(db, instance)
    real_due = row.due_at
    row.due_at = real_due - timedelta(days=1)
    db.session.commit()
    run_round(app)
    db.session.expire_all()
    assert [(r.due_at, r.fired) for r in rows(db, instance)] == [(real_due, False)]
    assert timer_jobs.sweep(now=(real_due + timedelta(seconds=1)).isoformat())["fired"] == 1


def test_jobs_cli(app, db, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["jobs", "run", "timers.sweep"])
    assert result.exit_code == 0 and "'due'" in result.output
    result = runner.invoke(args=["jobs", "dispatch"])
    assert result.exit_code == 0 and "'pending'" in result.output
