"""The incident lifecycle over HTTP as the demo users of each role; the event log shows every flow."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import Event, HumanTask, Incident, ProcessInstance
from tests.bpmn.conftest import all_flows
from tests.integration.helpers import deliver_reply, form_post, ready_task, worker_for
from tests.support import PATHS, record, start_data

TAKEN: set[str] = set()


def _instance_from_redirect(db, response) -> ProcessInstance:
    assert response.status_code == 302, response.data.decode()[:500]
    instance_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    return db.session.get(ProcessInstance, instance_id)


@pytest.mark.parametrize("name", sorted(PATHS))
def test_path_over_http(db, login_as, name):
    start, steps = PATHS[name]
    desk = login_as("service_desk")
    instance = _instance_from_redirect(db, desk.post("/incidents/record", data=form_post(start)))
    assert instance.business_key.startswith("INC-")
    for step in steps:
        if step[0] == "message":
            deliver_reply(instance.id, step[1], step[2])
            db.session.expire_all()
            continue
        spec_id, data = step
        task = ready_task(instance.id)
        assert task.spec_id == spec_id
        client = login_as(worker_for(task))
        page = client.get(f"/tasks/{task.id}")
        assert page.status_code == 200 and task.name in page.data.decode()
        response = client.post(f"/tasks/{task.id}", data=form_post(data))
        assert response.status_code == 302, response.data.decode()[:2000]
        db.session.expire_all()
    assert instance.status == "completed" and instance.completed_at is not None
    events = db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)).all()
    types = [e.type for e in events]
    assert types[0] == "instance_started" and "instance_completed" in types
    # Only links made by messages thrown at the very end may follow completion.
    assert set(types[types.index("instance_completed") + 1:]) <= {"link_created"}
    TAKEN.update(e.data.get("flow") for e in events if e.data.get("flow"))
    page = desk.get(f"/instances/{instance.id}")
    assert page.status_code == 200 and instance.business_key in page.data.decode()


def test_support_too_slow_timer_over_http(db, login_as):
    """The support group does not finish in time: the timer sweep (frozen clock) notifies the incident lead."""
    from datetime import timedelta

    from app.jobs import timer_jobs
    from app.models import DueTimer
    from tests.support import SLOW_SUPPORT_STEPS

    start = PATHS["no_problem_submits_knowledge"][0]
    desk = login_as("service_desk")
    instance = _instance_from_redirect(db, desk.post("/incidents/record", data=form_post(start)))
    db.session.commit()
    for spec_id, data in SLOW_SUPPORT_STEPS:
        task = ready_task(instance.id)
        assert task.spec_id == spec_id
        assert login_as(worker_for(task)).post(f"/tasks/{task.id}", data=form_post(data)).status_code == 302
        db.session.commit()
    due = db.session.scalar(select(DueTimer.due_at).where(DueTimer.instance_id == instance.id))
    assert timer_jobs.sweep(now=(due + timedelta(seconds=1)).isoformat())["fired"] == 1
    events = db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)).all()
    assert "escalation_notified" in [e.type for e in events]
    TAKEN.update(e.data.get("flow") for e in events if e.data.get("flow"))


def test_zz_event_log_covers_every_flow():
    expected = all_flows("incident")
    print(f"\nincident flows seen in the event log over HTTP: {len(TAKEN & expected)}/{len(expected)}")
    assert expected <= TAKEN, sorted(expected - TAKEN)


def test_escalation_moves_to_parent_desk(db, login_as):
    start, steps = PATHS["escalations_problem_rfc_reopen"]
    desk = login_as("service_desk")
    instance = _instance_from_redirect(db, desk.post("/incidents/record", data=form_post(start)))
    workers = []
    for _spec_id, data in steps[:6]:
        task = ready_task(instance.id)
        workers.append(worker_for(task))
        assert login_as(workers[-1]).post(f"/tasks/{task.id}", data=form_post(data)).status_code == 302
        db.session.expire_all()
    assert workers == ["desk", "desk", "line1", "line2", "line3", "desk_city"]
    incident = db.session.scalar(select(Incident).where(Incident.instance_id == instance.id))
    assert incident.organisation.code == "city" and incident.upward_escalations == 1
    moved = db.session.scalar(select(Event).where(Event.instance_id == instance.id, Event.type == "escalated_upward"))
    assert moved.data["from_organisation"] == "county" and moved.data["to_organisation"] == "city"
    # The county desk no longer sees it; the city desk has the history and the next task.
    task = ready_task(instance.id)
    assert task.organisation.code == "city"
    assert login_as("service_desk").get(f"/tasks/{task.id}").status_code == 200  # may view (lower level)...
    assert login_as("service_desk").post(f"/tasks/{task.id}", data=form_post(steps[6][1])).status_code == 403


def test_reporter_confirms_own_fault(db, login_as):
    reporter = login_as("requester")
    response = reporter.post("/incidents/report", data=form_post({"symptoms": "打印机无法打印", "channel": "web"}))
    instance = _instance_from_redirect(db, response)
    assert instance.requester.username == "reporter"
    desk = login_as("service_desk")
    for spec_id, data in [("detect_and_record", record(category="terminal", impact="low", urgency="low")),
                          ("classify_and_first_support", {"desk_solved": True, "desk_solution": "更换硒鼓"})]:
        task = ready_task(instance.id)
        assert task.spec_id == spec_id
        assert desk.post(f"/tasks/{task.id}", data=form_post(data)).status_code == 302
    confirm = ready_task(instance.id)
    assert confirm.spec_id == "confirm_resolution" and confirm.assignee.username == "reporter"
    inbox = reporter.get("/").data.decode()
    assert confirm.name in inbox
    assert desk.post(f"/tasks/{confirm.id}", data=form_post({"confirmed": True})).status_code == 403
    assert reporter.post(f"/tasks/{confirm.id}", data=form_post({"confirmed": True})).status_code == 302


def test_invalid_form_keeps_input_and_saves_nothing(db, login_as):
    desk = login_as("service_desk")
    instance = _instance_from_redirect(db, desk.post("/incidents/record", data=form_post(start_data())))
    task = ready_task(instance.id)
    state_before, seq_before = instance.state, instance.event_seq
    bad = form_post(record())
    bad.pop("symptoms")
    bad["impact"] = "catastrophic"
    bad["reporter_name"] = "李四-保留"
    response = desk.post(f"/tasks/{task.id}", data=bad)
    html = response.data.decode()
    assert response.status_code == 400
    assert 'id="f_symptoms_err"' in html and 'id="f_impact_err"' in html
    assert "李四-保留" in html
    db.session.expire_all()
    assert task.state == "ready" and instance.state == state_before and instance.event_seq == seq_before


def test_task_of_another_group_is_forbidden(db, login_as):
    desk = login_as("service_desk")
    instance = _instance_from_redirect(db, desk.post("/incidents/record", data=form_post(start_data())))
    task = ready_task(instance.id)
    for role in ("support_line_1", "auditor", "requester", "desk_city"):
        assert login_as(role).post(f"/tasks/{task.id}", data=form_post(record())).status_code == 403, role
    assert db.session.get(HumanTask, task.id).state == "ready"


def test_completed_task_again_is_conflict(db, login_as):
    desk = login_as("service_desk")
    instance = _instance_from_redirect(db, desk.post("/incidents/record", data=form_post(start_data())))
    task = ready_task(instance.id)
    assert desk.post(f"/tasks/{task.id}", data=form_post(record())).status_code == 302
    again = desk.post(f"/tasks/{task.id}", data=form_post(record()))
    assert again.status_code == 409


def test_out_of_scope_requires_reason(db, login_as):
    desk = login_as("service_desk")
    instance = _instance_from_redirect(db, desk.post("/incidents/record", data=form_post(start_data())))
    task = ready_task(instance.id)
    data = form_post(record(in_scope=False))
    data.pop("out_of_scope_reason")
    assert desk.post(f"/tasks/{task.id}", data=data).status_code == 400


def test_unanswered_required_yes_no_is_an_error(db, login_as):
    desk = login_as("service_desk")
    instance = _instance_from_redirect(db, desk.post("/incidents/record", data=form_post(start_data())))
    task = ready_task(instance.id)
    data = form_post(record())
    data.pop("in_scope")
    response = desk.post(f"/tasks/{task.id}", data=data)
    assert response.status_code == 400 and 'id="f_in_scope_err"' in response.data.decode()


def test_ci_picker_offers_the_organisations_cis_only(db, login_as, user):
    from app.services.incident import configuration_items

    county = {ci.code for ci in configuration_items(user("desk"))}
    city = {ci.code for ci in configuration_items(user("desk_city"))}
    assert "WEB-PORTAL" not in county and "SRV-DB-01" in county  # the portal belongs to the city
    assert {"WEB-PORTAL", "SRV-DB-01"} <= city  # the city sees its own CIs and the county's below it
    page = login_as("service_desk").get("/incidents/record").data.decode()
    assert "SRV-DB-01" in page and "WEB-PORTAL" not in page
