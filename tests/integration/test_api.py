"""The JSON API by role: tokens, processes, instances, tasks, groups; error statuses and bodies."""
from __future__ import annotations

import pytest

from tests.integration.helpers import deliver_reply, worker_for
from tests.support import PATHS, record, start_data


def _start(client, headers, data=None) -> dict:
    response = client.post("/api/v1/processes/incident/instances", json={"data": data or start_data()},
                           headers=headers)
    assert response.status_code == 201, response.json
    return response.json


def test_token_and_bad_credentials(client):
    ok = client.post("/api/v1/auth/token", json={"username": "desk", "password": "demo-pass-2026"})
    assert ok.status_code == 200 and ok.json["token_type"] == "Bearer"
    bad = client.post("/api/v1/auth/token", json={"username": "desk", "password": "wrong"})
    assert bad.status_code == 401 and bad.json["error"] == "unauthorized"
    missing = client.post("/api/v1/auth/token", json={"username": "desk"})
    assert missing.status_code == 422


@pytest.mark.parametrize("path", ["/api/v1/processes", "/api/v1/tasks", "/api/v1/groups", "/api/v1/instances/1"])
def test_endpoints_need_a_token(client, path):
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer forged.token.value"}).status_code == 401


def test_revoked_token_is_refused(client, api_as, user, db):
    headers = api_as("service_desk")
    assert client.get("/api/v1/tasks", headers=headers).status_code == 200
    user("desk").token_version += 1
    db.session.flush()
    assert client.get("/api/v1/tasks", headers=headers).status_code == 401


def test_processes_list_start_form(client, api_as):
    response = client.get("/api/v1/processes", headers=api_as("requester"))
    (incident,) = [p for p in response.json if p["process_id"] == "incident"]
    assert incident["name"] == "事件管理" and incident["version"] >= 1
    assert "symptoms" in incident["start_form"]["properties"]
    # Names stay as in the diagram; their English comes beside them, a step's keyed by its spec_id.
    assert incident["names"] == {"en": "Incident management"}
    english = incident["step_names"]["en"]
    assert english["determine_priority"] == "Determine the incident priority"
    assert english["detect_and_record"] == "Detect and record incident"
    assert "incident" not in english


def test_full_lifecycle_over_api(client, api_as, db):
    start, steps = PATHS["escalations_problem_rfc_reopen"]
    created = _start(client, api_as("service_desk"), start)
    assert created["business_key"].startswith("INC-") and created["version"] >= 1
    for step in steps:
        if step[0] == "message":
            deliver_reply(created["id"], step[1], step[2])
            created = client.get(f"/api/v1/instances/{created['id']}", headers=api_as("auditor")).json
            continue
        spec_id, data = step
        (task,) = created["open_tasks"]
        assert task["spec_id"] == spec_id
        from app.models import HumanTask

        headers = api_as(worker_for(db.session.get(HumanTask, task["id"])))
        listed = client.get("/api/v1/tasks?process_id=incident", headers=headers).json
        assert task["id"] in [t["id"] for t in listed]
        detail = client.get(f"/api/v1/tasks/{task['id']}", headers=headers).json
        assert detail["may_complete"] and detail["form"]["type"] == "object"
        response = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data}, headers=headers)
        assert response.status_code == 200, response.json
        created = response.json
    assert created["status"] == "completed" and created["open_tasks"] == []
    shown = client.get(f"/api/v1/instances/{created['id']}", headers=api_as("auditor")).json
    assert shown["record"]["status"] == "closed" and shown["record"]["create_problem"] is True
    assert shown["record"]["rfc_requested"] is True and shown["organisation"] == "city"
    events = client.get(f"/api/v1/instances/{created['id']}/events", headers=api_as("auditor")).json
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert any(e["type"] == "decision_evaluated" and e["data"]["decision_id"] == "incident_priority"
               and e["data"]["outputs"] == {"priority": "P2"} for e in events)


def test_complete_errors(client, api_as):
    created = _start(client, api_as("service_desk"))
    task_id = created["open_tasks"][0]["id"]
    desk = api_as("service_desk")
    invalid = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": {"impact": "huge"}}, headers=desk)
    assert invalid.status_code == 400
    assert invalid.json["error"] == "validation_failed"
    assert {"impact", "symptoms", "in_scope"} <= set(invalid.json["errors"])
    other = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": record()},
                        headers=api_as("support_line_1"))
    assert other.status_code == 403 and other.json["error"] == "forbidden"
    assert client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": record()}, headers=desk).status_code == 200
    twice = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": record()}, headers=desk)
    assert twice.status_code == 409 and twice.json["error"] == "conflict"
    assert client.post("/api/v1/tasks/999999/complete", json={"data": {}}, headers=desk).status_code == 404


def test_claim_and_unclaim(client, api_as, db):
    created = _start(client, api_as("service_desk"))
    task_id = created["open_tasks"][0]["id"]
    claimed = client.post(f"/api/v1/tasks/{task_id}/claim", headers=api_as("service_desk"))
    assert claimed.status_code == 200 and claimed.json["assignee"] == "desk"
    other_desk = client.post(f"/api/v1/tasks/{task_id}/claim", headers=api_as("desk_call_taking"))
    assert other_desk.status_code == 409
    stolen = client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": record()},
                         headers=api_as("desk_call_taking"))
    assert stolen.status_code == 403
    assert client.post(f"/api/v1/tasks/{task_id}/unclaim", headers=api_as("desk_call_taking")).status_code == 403
    released = client.post(f"/api/v1/tasks/{task_id}/unclaim", headers=api_as("service_desk"))
    assert released.status_code == 200 and released.json["assignee"] is None
    events = client.get(f"/api/v1/instances/{created['id']}/events", headers=api_as("auditor")).json
    assert [e["type"] for e in events if e["type"].startswith("task_") and "claim" in e["type"]] == [
        "task_claimed", "task_unclaimed"]


# role x endpoint: who may do what (status codes)
ROLE_TABLE = [
    ("auditor", "GET", "/api/v1/groups", 200),
    ("administrator", "GET", "/api/v1/groups", 200),
    ("service_desk", "GET", "/api/v1/groups", 403),
    ("requester", "GET", "/api/v1/groups", 403),
    ("auditor", "POST", "/api/v1/processes/incident/instances", 403),
    ("requester", "POST", "/api/v1/processes/incident/instances", 201),
    ("service_desk", "POST", "/api/v1/processes/incident/instances", 201),
    ("service_desk", "POST", "/api/v1/processes/no_such_process/instances", 404),
]


@pytest.mark.parametrize("role,method,path,status", ROLE_TABLE)
def test_role_endpoint_table(client, api_as, role, method, path, status):
    kwargs = {"json": {"data": start_data()}} if method == "POST" else {}
    response = client.open(path, method=method, headers=api_as(role), **kwargs)
    assert response.status_code == status, response.json


def test_auditor_cannot_claim_or_complete(client, api_as):
    created = _start(client, api_as("service_desk"))
    task_id = created["open_tasks"][0]["id"]
    auditor = api_as("auditor")
    assert client.get(f"/api/v1/tasks/{task_id}", headers=auditor).status_code == 200
    assert client.post(f"/api/v1/tasks/{task_id}/claim", headers=auditor).status_code == 403
    assert client.post(f"/api/v1/tasks/{task_id}/complete", json={"data": record()},
                       headers=auditor).status_code == 403


def test_instance_visibility(client, api_as):
    created = _start(client, api_as("requester"), {"symptoms": "电脑蓝屏", "channel": "web"})
    assert client.get(f"/api/v1/instances/{created['id']}", headers=api_as("requester")).status_code == 200
    assert client.get(f"/api/v1/instances/{created['id']}", headers=api_as("desk_city")).status_code == 200
    assert client.get(f"/api/v1/instances/{created['id']}", headers=api_as("line2_national")).status_code == 200
    assert client.get(f"/api/v1/instances/{created['id']}", headers=api_as("cab2")).status_code == 200


def test_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").json
    paths = doc["paths"]
    for path in ["/api/v1/auth/token", "/api/v1/processes", "/api/v1/processes/{process_id}/instances",
                 "/api/v1/instances/{instance_id}", "/api/v1/instances/{instance_id}/events", "/api/v1/tasks",
                 "/api/v1/tasks/{task_id}", "/api/v1/tasks/{task_id}/claim", "/api/v1/tasks/{task_id}/unclaim",
                 "/api/v1/tasks/{task_id}/complete", "/api/v1/groups"]:
        assert path in paths, path
    assert "bearerAuth" in doc["components"]["securitySchemes"]
    assert {"400", "403", "409"} <= set(paths["/api/v1/tasks/{task_id}/complete"]["post"]["responses"])


# Every way the API can refuse, by whoever refuses: our services, the token check, webargs, Werkzeug's routing.
ERROR_CASES = [
    ("no token", None, "GET", "/api/v1/tasks", None, 401, "unauthorized"),
    ("not allowed", "service_desk", "GET", "/api/v1/groups", None, 403, "forbidden"),
    ("unknown route", "service_desk", "GET", "/api/v1/no/such/route", None, 404, "not_found"),
    ("unknown instance", "service_desk", "GET", "/api/v1/instances/999999", None, 404, "not_found"),
    ("unknown process", "service_desk", "POST", "/api/v1/processes/nope/instances", {"data": {}}, 404, "not_found"),
    ("wrong method", "service_desk", "DELETE", "/api/v1/processes", None, 405, "method_not_allowed"),
    ("arguments off the schema", None, "POST", "/api/v1/auth/token", {"username": "desk"}, 422,
     "unprocessable_entity"),
    ("invalid form data", "service_desk", "POST", "/api/v1/processes/incident/instances", {"data": {"impact": 7}},
     400, "validation_failed"),
]


@pytest.mark.parametrize(("case", "role", "method", "path", "body", "status", "error"), ERROR_CASES,
                         ids=[c[0] for c in ERROR_CASES])
def test_every_error_has_the_one_documented_body(client, api_as, case, role, method, path, body, status, error):
    import jsonschema

    doc = client.get("/api/v1/openapi.json").json
    problem = doc["components"]["schemas"]["Problem"]
    assert doc["components"]["responses"]["DEFAULT_ERROR"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"}
    response = client.open(path, method=method, json=body, headers=api_as(role) if role else {})
    assert response.status_code == status, response.json
    assert response.json["error"] == error and response.json["message"]
    jsonschema.validate(response.json, problem)
    if status == 422:  # webargs' messages, by location and field
        assert response.json["errors"] == {"json": {"password": ["Missing data for required field."]}}
