"""One chain across processes over HTTP as the demo users (issue: links between processes).

Incident → problem (known error) → request for change categorised major → CAB vote → implementation with a
release → the configuration item updated under the change → closure flowing back: release → change →
problem → incident, which the desk then closes.
"""
from __future__ import annotations

from sqlalchemy import select

from app.models import CIChange, ConfigurationItem, Event, HumanTask, InstanceLink, KnownError, ProcessInstance
from tests.bpmn import test_change_paths as chg
from tests.bpmn import test_problem_paths as prb
from tests.bpmn import test_release_paths as rel
from tests.integration.helpers import form_post, worker_for
from tests.support import close, confirm, desk, investigate, leads, record, resolve, start_data

CI = "SRV-DB-01"


def _complete(db, login_as, task: HumanTask, data: dict) -> str:
    username = worker_for(task)
    response = login_as(username).post(f"/tasks/{task.id}", data=form_post(data))
    assert response.status_code == 302, (task.spec_id, response.data.decode()[:1500])
    db.session.expire_all()
    return username


def _ready(db, instance: ProcessInstance) -> list[HumanTask]:
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.state == "ready").order_by(HumanTask.id)))


def _linked(db, source: ProcessInstance, process_id: str) -> ProcessInstance:
    target = db.session.scalar(select(ProcessInstance).join(InstanceLink, InstanceLink.target_id == ProcessInstance.id)
                               .where(InstanceLink.source_id == source.id, ProcessInstance.process_id == process_id))
    assert target is not None, f"{source.business_key} started no {process_id}"
    return target


def _run(db, login_as, instance: ProcessInstance, steps: list[tuple[str, dict]]) -> list[str]:
    """Complete the given tasks of one instance in order, each as the demo user it is offered to."""
    done = []
    for spec_id, data in steps:
        ready = [t for t in _ready(db, instance) if t.spec_id == spec_id]
        assert ready, (instance.business_key, spec_id, [t.spec_id for t in _ready(db, instance)])
        done.append(_complete(db, login_as, ready[0], data))
    return done


def test_incident_to_problem_to_change_to_release_and_back(db, login_as):
    ci_before = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == CI)).name
    desk_client = login_as("service_desk")
    response = desk_client.post("/incidents/record", data=form_post(start_data(category="hardware")))
    incident = db.session.get(ProcessInstance, int(response.headers["Location"].rsplit("/", 1)[-1]))

    # Incident: root cause unknown, the leads open a problem; the service is restored meanwhile.
    _run(db, login_as, incident, [
        ("detect_and_record", record(category="hardware", affected_cis=[CI])),
        ("classify_and_first_support", desk(False)),
        ("investigate_and_diagnose", investigate("solved", root_cause_known=False)),
        ("report_to_leads", leads(True)),
        ("resolve_and_recover", resolve(False)),
        ("confirm_resolution", confirm(True)),
    ])
    assert _ready(db, incident) == [] and incident.status == "running"  # waits for the problem

    # Problem, started by the incident's message: a known error, and a change is needed.
    problem = _linked(db, incident, "problem")
    start = {"summary": "连接池反复耗尽", "symptoms": "监测数据库连接超时", "category": "hardware", "impact": "high",
             "urgency": "medium", "affected_cis": [CI]}
    _run(db, login_as, problem, [
        ("confirm_and_record", prb.record(start)),
        ("classify_problem", prb.classify(start)),
        ("assign_expert", prb.assign("problem_expert")),
        ("investigate_and_diagnose", prb.investigate(True)),
        ("evaluate_solution", prb.evaluate(True)),
    ])
    known = db.session.scalar(select(KnownError).where(KnownError.instance_id == problem.id))
    assert known is not None and known.status == "open" and known.problem_key == problem.business_key
    assert "连接" in login_as("service_desk").get("/kedb?q=连接池").data.decode()

    # Change, started by the problem: categorised major, voted by the CAB, implemented with a release.
    change = _linked(db, problem, "change")
    rfc = {"impact": "high", "urgency": "low", "risk": "high", "change_type": "normal"}
    _run(db, login_as, change, [("assess_change", {
        **chg.assess(rfc), "ci_changes": [{"ci": CI, "field": "name", "value": "环境质量数据库服务器(已加固)"}]})])
    assert change.priority == "major"
    votes = [t for t in _ready(db, change) if t.spec_id == "cab_vote"]
    assert sorted(t.assignee.username for t in votes) == ["cab", "cab2", "cab3"]
    voters = [_complete(db, login_as, t, chg.vote(v)) for t, v in zip(votes, ["approve", "approve", "reject"])]
    assert sorted(voters) == ["cab", "cab2", "cab3"]
    _run(db, login_as, change, [
        ("schedule_and_assign", {**chg.schedule(), "implementer": "change_implementer"}),
        ("implement_change", chg.implement(release=True)),
    ])

    release = _linked(db, change, "release")
    _run(db, login_as, release, [
        ("release_plan", rel.plan()),
        ("release_test", rel.release_tests(True)),
        ("release_approval", rel.approval("approved")),
        ("release_implementation", rel.implementation()),
        ("execute_release", rel.execute()),
        ("release_review", rel.review()),
        ("release_closure", rel.closure(True)),
    ])
    assert release.status == "completed"

    # The release's reply lets the change go on; success applies the CI change under the change's key.
    _run(db, login_as, change, [
        ("complete_implementation", chg.complete("success")),
        ("review_change", chg.review()),
        ("close_change", chg.close()),
    ])
    assert change.status == "completed"
    ci = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == CI))
    assert ci.name == "环境质量数据库服务器(已加固)" != ci_before
    history = db.session.scalar(select(CIChange).where(CIChange.ci_id == ci.id))
    assert history.change_key == change.business_key and history.old_value == ci_before

    # The change's reply reaches the problem, which the desk closes; its reply reaches the incident.
    remaining = [t.spec_id for t in _ready(db, problem)]
    steps = [("implement_solution", prb.implement())] if "implement_solution" in remaining else []
    _run(db, login_as, problem, [*steps, ("close_problem", prb.close(True))])
    assert problem.status == "completed"
    assert db.session.get(KnownError, known.id).status == "resolved"

    _run(db, login_as, incident, [("close_incident", close())])
    assert incident.status == "completed"

    # Every link is visible on both instance pages and in the events.
    for a, b in [(incident, problem), (problem, change), (change, release)]:
        assert b.business_key in desk_client.get(f"/instances/{a.id}").data.decode()
        assert a.business_key in desk_client.get(f"/instances/{b.id}").data.decode()
    replies = {(e.instance_id, e.data["name"]) for e in db.session.scalars(
        select(Event).where(Event.type == "message_caught"))}
    assert {(change.id, "release_closed"), (problem.id, "change_closed"), (incident.id, "problem_closed")} <= replies


def test_a_change_updates_a_class_attribute_through_the_form(db, login_as):
    """The RFC's CI changes name class attributes (here the server's OS), applied when implemented."""
    from app.services import instances

    client = login_as("change_analyst")
    rfc = {"summary": "升级操作系统", "description": "升级数据库服务器操作系统", "impact": "low", "urgency": "low",
           "risk": "low", "change_type": "standard", "affected_cis": [CI]}
    response = client.post("/processes/change/start", data=form_post(rfc))
    assert response.status_code == 302, response.data.decode()[:800]
    change = db.session.get(ProcessInstance, int(response.headers["Location"].rsplit("/", 1)[-1]))
    os_change = [{"ci": CI, "field": "os", "value": "Debian 13"}]
    _run(db, login_as, change, [("assess_change", {**chg.assess(rfc), "ci_changes": os_change})])
    if [t.spec_id for t in _ready(db, change)] == ["lead_approval"]:
        _run(db, login_as, change, [("lead_approval", chg.lead(True))])
    _run(db, login_as, change, [
        ("schedule_and_assign", {**chg.schedule(), "implementer": "change_implementer"}),
        ("implement_change", chg.implement("success")),
        ("review_change", chg.review()),
        ("close_change", chg.close()),
    ])
    assert change.status == "completed", instances.waiting_messages(change)
    ci = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == CI))
    assert ci.attributes["os"] == "Debian 13"
    history = db.session.scalar(select(CIChange).where(CIChange.ci_id == ci.id, CIChange.field == "os"))
    assert history.change_key == change.business_key
