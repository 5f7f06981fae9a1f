"""The hash-chained event log: appends chain, and tampering with rows is detected."""
from __future__ import annotations

from sqlalchemy import select, update

from app.models import Event
from app.services import incident
from app.services.audit_trail import verify_all, verify_instance
from tests.support import start_data


def _instance(db, user):
    instance = incident.record_incident(user("desk"), start_data())
    db.session.flush()
    return instance


def _events(db, instance):
    return db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)).all()


def test_chain_links_each_event_to_the_previous(db, user):
    instance = _instance(db, user)
    events = _events(db, instance)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert all(b.prev_hash == a.hash for a, b in zip(events, events[1:]))
    assert instance.event_head == events[-1].hash
    assert verify_instance(instance) == (True, None)


def test_altered_event_is_named(db, user):
    instance = _instance(db, user)
    second = _events(db, instance)[1]
    db.session.execute(update(Event).where(Event.id == second.id).values(data={"name": "forged"}))
    db.session.expire_all()
    ok, problem = verify_instance(instance)
    assert not ok and "#2" in problem and "altered" in problem
    assert (instance.business_key, problem) in verify_all()


def test_deleted_event_is_named(db, user):
    instance = _instance(db, user)
    victim = _events(db, instance)[1]
    db.session.delete(victim)
    db.session.flush()
    db.session.expire_all()
    ok, problem = verify_instance(instance)
    assert not ok and "#2" in problem and "missing" in problem


def test_swapped_events_are_named(db, user):
    instance = _instance(db, user)
    first, second = _events(db, instance)[:2]
    db.session.execute(update(Event).where(Event.id == first.id).values(seq=-1))
    db.session.execute(update(Event).where(Event.id == second.id).values(seq=1))
    db.session.execute(update(Event).where(Event.id == first.id).values(seq=2))
    db.session.expire_all()
    ok, problem = verify_instance(instance)
    assert not ok and "#1" in problem


def test_truncated_chain_is_named(db, user):
    instance = _instance(db, user)
    last = _events(db, instance)[-1]
    db.session.delete(last)
    db.session.flush()
    db.session.expire_all()
    ok, problem = verify_instance(instance)
    assert not ok and "ends early" in problem


def test_cli_audit_verify(app, db, user):
    _instance(db, user)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "verified" in result.output


def test_a_steps_events_are_inserted_in_one_statement(db, user):
    """Events with and without an actor or task (NULLs in different columns) still go in one INSERT."""
    from sqlalchemy import event

    from app.services import instances
    from tests.integration.helpers import ready_task, worker_for
    from tests.support import PATHS, SIMPLE_PATH

    instance = _instance(db, user)
    _start, steps = PATHS[SIMPLE_PATH]
    spec_id, data = steps[0]
    task = ready_task(instance.id)
    assert task.spec_id == spec_id
    inserts: list[str] = []

    def count(_conn, _cursor, statement, _parameters, _context, _executemany) -> None:  # noqa: ANN001
        if statement.startswith("INSERT INTO event"):
            inserts.append(statement)

    before = len(_events(db, instance))
    event.listen(db.engine, "before_cursor_execute", count)
    try:
        instances.complete_task(task.id, user(worker_for(task)), data)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    kinds = {(e.actor_id is None, e.task_guid is None) for e in _events(db, instance)[before:]}
    assert len(kinds) > 1  # the step's events really differ in which columns are NULL
    assert len(_events(db, instance)) - before > 2
    assert len(inserts) == 1
