"""The inbox query: who sees which tasks, its filters and its order (one cached statement per filter shape)."""
from __future__ import annotations

from datetime import timedelta

from app.models.base import utcnow
from app.services import incident, instances
from app.services.instances import InboxFilter
from tests.support import start_data


def _ids(user, **flt) -> list[int]:
    from app.extensions import db

    return [t.id for t in db.session.scalars(instances.inbox_query(user, InboxFilter(**flt)))]


def _first_task(instance) -> int:
    (task,) = instances.open_tasks(instance)
    return task.id


def test_filters_scopes_and_other_users(db, user):
    from app.models import HumanTask

    desk = user("desk")
    urgent = _first_task(incident.record_incident(desk, start_data()))
    minor = _first_task(incident.record_incident(desk, start_data()))
    db.session.get(HumanTask, urgent).priority = "P1"
    db.session.get(HumanTask, minor).priority = "P4"
    db.session.flush()

    assert {urgent, minor} <= set(_ids(desk, process_id="incident"))
    assert _ids(desk, process_id="problem") == []
    assert urgent in _ids(desk, process_id="incident", priority="P1")
    assert minor not in _ids(desk, process_id="incident", priority="P1")
    assert minor in _ids(desk, process_id="incident", priority="P4")
    assert not {urgent, minor} & set(_ids(desk, process_id="incident", state="completed"))
    assert {urgent, minor} <= set(_ids(desk, scope="groups", process_id="incident"))
    assert not {urgent, minor} & set(_ids(desk, scope="mine", process_id="incident"))

    # The same statement shape for another user answers for that user: the reporter is not in the desk group.
    reporter = user("reporter")
    assert not {urgent, minor} & set(_ids(reporter, process_id="incident"))
    assert {urgent, minor} <= set(_ids(desk, process_id="incident"))

    # Claimed by the desk member: now in "mine" for them.
    instances.claim_task(minor, desk)
    db.session.flush()
    assert minor in _ids(desk, scope="mine", process_id="incident")
    assert minor not in _ids(user("desk_call"), scope="mine", process_id="incident")


def test_overdue_tasks_come_first(db, user):
    from app.models import HumanTask

    desk = user("desk")
    first = _first_task(incident.record_incident(desk, start_data(impact="low", urgency="low")))
    second = _first_task(incident.record_incident(desk, start_data(impact="low", urgency="low")))
    db.session.get(HumanTask, second).due_at = utcnow() - timedelta(minutes=5)
    db.session.get(HumanTask, first).due_at = utcnow() + timedelta(hours=5)
    db.session.flush()
    ids = _ids(desk, process_id="incident")
    assert ids.index(second) < ids.index(first)
