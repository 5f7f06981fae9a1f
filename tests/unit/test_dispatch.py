"""Automatic dispatch (spec 6.2: 自动分派到相应支持组和个人): per organisation and group, manual (the queue) or
least loaded; members who are away are passed over; with nobody available the task stays with the group."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models import Event, HumanTask, Notification, SecurityEvent
from app.models.base import utcnow
from app.services import dispatch
from app.services.errors import Forbidden, ValidationFailed
from app.services.identity import create_user
from tests.replay_support import drive


def _support_task(db) -> HumanTask:
    """A database incident the desk passes on: the classification table gives it to line 2."""
    instance = drive("no_problem_submits_knowledge", steps=2)
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                     HumanTask.state == "ready"))
    assert task.spec_id == "investigate_and_diagnose" and task.candidate_group == "support_line_2"
    return task


@pytest.fixture
def two_line2(db, user):
    """The county's line 2 has two members: the demo's line2 and a colleague."""
    colleague = create_user("line2b", None, user("line2").organisation, display_name="县二线支持B",
                            password_hash=user("line2").password_hash,
                            groups=["support_line_2"])
    db.session.commit()
    return user("line2"), colleague


def test_manual_by_default(db, two_line2):
    assert _support_task(db).assignee_id is None


def test_least_loaded_member_gets_each_new_task(db, user, two_line2):
    line2, colleague = two_line2
    assert dispatch.set_mode(user("admin"), line2.organisation, "support_line_2", "least_loaded") is True
    first, second, third = (_support_task(db) for _ in range(3))
    # Both start empty (the lower id first); then whoever holds fewer.
    assert [first.assignee_id, second.assignee_id, third.assignee_id] == [line2.id, colleague.id, line2.id]
    ready = db.session.scalar(select(Event).where(Event.task_guid == first.task_guid, Event.type == "task_ready"))
    assert ready.data["dispatched"] == "least_loaded" and ready.data["assignee_id"] == line2.id
    told = db.session.scalars(select(Notification.user_id).where(Notification.kind == "task_assigned")).all()
    assert line2.id in told and colleague.id in told  # each is told the task is theirs


def test_members_away_are_passed_over(db, user, two_line2):
    line2, colleague = two_line2
    dispatch.set_mode(user("admin"), line2.organisation, "support_line_2", "least_loaded")
    dispatch.set_away(line2, line2, utcnow() + timedelta(days=3))
    assert {_support_task(db).assignee_id for _ in range(2)} == {colleague.id}
    dispatch.set_away(user("admin"), colleague, utcnow() + timedelta(hours=2))
    assert _support_task(db).assignee_id is None  # nobody available: the group's queue, as in manual mode
    dispatch.set_away(line2, line2, None)
    assert _support_task(db).assignee_id == line2.id


def test_back_to_manual(db, user, two_line2):
    line2, _colleague = two_line2
    admin = user("admin")
    dispatch.set_mode(admin, line2.organisation, "support_line_2", "least_loaded")
    assert dispatch.set_mode(admin, line2.organisation, "support_line_2", "least_loaded") is False  # no change
    dispatch.set_mode(admin, line2.organisation, "support_line_2", "manual")
    assert _support_task(db).assignee_id is None
    logged = db.session.scalars(select(SecurityEvent).where(SecurityEvent.type == "dispatch_changed")
                                .order_by(SecurityEvent.id)).all()
    assert [(e.data["old"], e.data["new"]) for e in logged] == [("manual", "least_loaded"),
                                                                 ("least_loaded", "manual")]


def test_rules_are_per_organisation(db, user, two_line2):
    line2, _ = two_line2
    dispatch.set_mode(user("admin"), user("line2_city").organisation, "support_line_2", "least_loaded")
    assert _support_task(db).assignee_id is None  # the county's line 2 stays manual


def test_who_may_change_dispatch_and_availability(db, user):
    county = user("line2").organisation
    for name in ("incident_lead", "service_level_lead", "auditor"):
        with pytest.raises(Forbidden):
            dispatch.set_mode(user(name), county, "support_line_2", "least_loaded")
    for group, mode, bad in (("no_such_group", "manual", "group"), ("support_line_2", "random", "mode")):
        with pytest.raises(ValidationFailed) as exc:
            dispatch.set_mode(user("admin"), county, group, mode)
        assert set(exc.value.errors) == {bad}
    with pytest.raises(Forbidden):
        dispatch.set_away(user("line1"), user("line2"), utcnow() + timedelta(days=1))
    for until in (utcnow() - timedelta(minutes=1), utcnow() + timedelta(days=400), utcnow().replace(tzinfo=None)):
        with pytest.raises(ValidationFailed):
            dispatch.set_away(user("line2"), user("line2"), until)
    assert user("line2").away_until is None
