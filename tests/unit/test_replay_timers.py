"""Re-execution replays timer firings (app.services.timers writes timers_fired before the engine events)."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

from app.engine.runtime import ProcessRun
from app.models import Event, ProcessInstance
from app.services import replay, timers
from app.services.definitions import compiled_for
from tests.replay_support import drive


def _fire(db, instance):
    due = ProcessRun.load(compiled_for(instance.version), instance.state).due_timers()
    assert due, "the investigation waits on a timer"
    fired = timers.fire_due_timers(instance, max(when for _, when in due) + timedelta(seconds=1))
    db.session.commit()
    return fired


def test_reexecution_replays_a_fired_timer(db):
    instance = drive("escalations_problem_rfc_reopen", steps=2)  # line 1 investigates
    fired = _fire(db, instance)
    assert fired
    instance = db.session.get(ProcessInstance, instance.id)
    types = [e.type for e in db.session.scalars(select(Event).where(Event.instance_id == instance.id))]
    assert "timers_fired" in types
    result = replay.reexecute(instance)
    assert result.consistent, result.as_dict()


def test_reexecution_names_a_forged_timer_record(db):
    instance = drive("escalations_problem_rfc_reopen", steps=2)
    _fire(db, instance)
    record = db.session.scalar(select(Event).where(Event.instance_id == instance.id, Event.type == "timers_fired"))
    db.session.execute(update(Event).where(Event.id == record.id).values(
        data={**record.data, "elements": ["no_such_timer"]}))
    db.session.expire_all()
    result = replay.reexecute(db.session.get(ProcessInstance, instance.id))
    assert not result.consistent and result.seq == record.seq and "no_such_timer" in result.problem
