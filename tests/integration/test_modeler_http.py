"""The editors over HTTP: pages and JSON routes by role, and the deployment API."""
from __future__ import annotations

import io
import json

import pytest
from sqlalchemy import func, select

from app.models import ProcessVersion
from app.services.definitions import latest_version

PAGES = [
    ("GET", "/modeler"),
    ("GET", "/modeler/incident"),
    ("GET", "/modeler/incident/versions"),
    ("GET", "/modeler/incident/versions/1/bpmn"),
    ("GET", "/modeler/decisions/incident_priority"),
    ("GET", "/modeler/incident/forms/close_incident.schema.json"),
    ("POST", "/modeler/incident/save"),
    ("POST", "/modeler/incident/migrate"),
    ("POST", "/modeler/decisions/incident_priority/save"),
    ("POST", "/modeler/decisions/incident_priority/try"),
    ("POST", "/modeler/incident/forms/close_incident.schema.json/preview"),
    ("POST", "/modeler/incident/forms/close_incident.schema.json/save"),
]
API = [
    ("GET", "/api/v1/processes/incident/versions"),
    ("GET", "/api/v1/processes/incident/versions/1/bpmn"),
    ("POST", "/api/v1/processes/incident/versions"),
    ("POST", "/api/v1/decisions/incident_priority/versions"),
]


def _count() -> int:
    from app.extensions import db
    return db.session.scalar(select(func.count(ProcessVersion.id)))


@pytest.mark.parametrize("role", ["auditor", "service_desk", "requester", "support_line_1"])
@pytest.mark.parametrize(("method", "path"), PAGES)
def test_pages_forbidden_to_others(login_as, role, method, path):
    client = login_as(role)
    response = client.open(path, method=method, json={} if method == "POST" else None)
    assert response.status_code == 403


@pytest.mark.parametrize("role", ["auditor", "service_desk"])
@pytest.mark.parametrize(("method", "path"), API)
def test_api_forbidden_to_others(client, api_as, role, method, path):
    before = _count()
    data = {"file": (io.BytesIO(b"<x/>"), "x.bpmn")} if method == "POST" else None
    response = client.open(path, method=method, headers=api_as(role), data=data)
    assert response.status_code == 403
    assert _count() == before


@pytest.mark.parametrize("role", ["process_owner", "administrator"])
@pytest.mark.parametrize("path", [p for m, p in PAGES if m == "GET"])
def test_pages_open_to_owners_and_admins(login_as, role, path):
    response = login_as(role).get(path)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]


def test_anonymous_is_sent_to_login(client):
    response = client.get("/modeler")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_library_lists_processes_with_counts(login_as):
    html = login_as("owner").get("/modeler").get_data(as_text=True)
    assert 'data-process="incident"' in html and "incident_priority" in html


def test_page_save_deploys_or_returns_issues(login_as):
    client = login_as("owner")
    current = latest_version("incident")
    renamed = current.bpmn_xml.replace('name="事件关闭"', 'name="事件关闭!"', 1)
    assert renamed != current.bpmn_xml
    response = client.post("/modeler/incident/save", json={"xml": renamed, "note": "rename"})
    assert response.status_code == 201
    assert response.json["version"] == current.version + 1 and response.json["note"] == "rename"
    broken = renamed.replace('value="close_incident.schema.json"', 'value="gone.schema.json"')
    before = _count()
    response = client.post("/modeler/incident/save", json={"xml": broken})
    assert response.status_code == 422
    assert "close_incident" in [i["element_id"] for i in response.json["issues"]]
    assert _count() == before
    response = client.post("/modeler/incident/save", json={"xml": renamed})
    assert response.status_code == 200 and response.json["created"] is False


def test_try_decision_and_save_decision(login_as):
    client = login_as("owner")
    xml = latest_version("incident").files["dmn/incident_priority.dmn"]
    response = client.post("/modeler/decisions/incident_priority/try",
                           json={"xml": xml, "data": {"impact": "high", "urgency": "high"}})
    assert response.status_code == 200 and response.json["matched"]
    response = client.post("/modeler/decisions/incident_priority/save", json={"xml": xml.replace('"P1"', '"P0"', 1)})
    assert response.status_code == 201 and [v["process_id"] for v in response.json["versions"]] == ["incident"]


def test_form_preview_and_save(login_as):
    client = login_as("owner")
    url = "/modeler/incident/forms/close_incident.schema.json"
    text = latest_version("incident").files["forms/incident/close_incident.schema.json"]
    schema = json.loads(text)
    first = next(iter(schema["properties"]))
    schema["properties"][first]["title"] = "预览标题"
    response = client.post(url + "/preview", json={"text": json.dumps(schema, ensure_ascii=False)})
    assert response.status_code == 200 and "预览标题" in response.json["html"]
    assert client.post(url + "/preview", json={"text": "{oops"}).status_code == 422
    response = client.post(url + "/save", json={"text": json.dumps(schema, ensure_ascii=False)})
    assert response.status_code == 201
    assert client.post(url + "/save", json={"text": '{"type": 3}'}).status_code == 422


def test_api_deploys_process_version(client, api_as):
    headers = api_as("owner")
    current = latest_version("incident")
    body = current.bpmn_xml.replace('name="事件关闭"', 'name="事件关闭(API)"', 1).encode()
    response = client.post("/api/v1/processes/incident/versions", headers=headers,
                           data={"file": (io.BytesIO(body), "incident.bpmn"), "note": "via api"})
    assert response.status_code == 201, response.json
    assert response.json["version"] == current.version + 1 and response.json["note"] == "via api"
    assert response.json["content_hash"] and response.json["process_id"] == "incident"
    history = client.get("/api/v1/processes/incident/versions", headers=headers).json
    assert history[0]["version"] == current.version + 1
    download = client.get(f"/api/v1/processes/incident/versions/{current.version + 1}/bpmn", headers=headers)
    assert download.status_code == 200 and download.data == body
    again = client.post("/api/v1/processes/incident/versions", headers=headers,
                        data={"file": (io.BytesIO(body), "incident.bpmn")})
    assert again.status_code == 200 and again.json["version"] == current.version + 1


@pytest.mark.parametrize(("body", "needle"), [
    (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><d>&x;</d>', "DOCTYPE"),
    (b"<definitions", "well-formed"),
])
def test_api_refuses_unsafe_xml(client, api_as, body, needle):
    before = _count()
    response = client.post("/api/v1/processes/incident/versions", headers=api_as("admin"),
                           data={"file": (io.BytesIO(body), "incident.bpmn")})
    assert response.status_code == 422 and needle in response.json["message"]
    assert response.json["issues"]
    assert _count() == before


def test_api_refuses_invalid_diagram_with_element_ids(client, api_as):
    broken = latest_version("incident").bpmn_xml.replace('value="close_incident.schema.json"', 'value="x.json"')
    response = client.post("/api/v1/processes/incident/versions", headers=api_as("owner"),
                           data={"file": (io.BytesIO(broken.encode()), "incident.bpmn")})
    assert response.status_code == 422
    assert "close_incident" in [i["element_id"] for i in response.json["issues"]]


def test_api_requires_a_bpmn_file(client, api_as):
    response = client.post("/api/v1/processes/incident/versions", headers=api_as("owner"),
                           data={"file": (io.BytesIO(b"x"), "x.txt")})
    assert response.status_code == 400


def test_api_deploys_decision_all_or_nothing(client, api_as):
    headers = api_as("owner")
    xml = latest_version("incident").files["dmn/incident_priority.dmn"]
    response = client.post("/api/v1/decisions/incident_priority/versions", headers=headers,
                           data={"file": (io.BytesIO(xml.replace('"P1"', '"P0"', 1).encode()), "p.dmn")})
    assert response.status_code == 201
    assert [v["process_id"] for v in response.json["versions"]] == ["incident"]
    before = _count()
    broken = xml.replace("<text>", "<text>[1..", 1)
    response = client.post("/api/v1/decisions/incident_priority/versions", headers=headers,
                           data={"file": (io.BytesIO(broken.encode()), "p.dmn")})
    assert response.status_code == 422 and response.json["issues"]
    assert _count() == before


def test_openapi_documents_modeling_endpoints(client):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    assert "/api/v1/processes/{process_id}/versions" in paths
    assert "/api/v1/decisions/{decision_id}/versions" in paths
    assert "/api/v1/processes/{process_id}/versions/{number}/bpmn" in paths
    assert "multipart/form-data" in paths["/api/v1/processes/{process_id}/versions"]["post"]["requestBody"]["content"]


def test_api_replaces_a_form_with_the_upload(client, api_as):
    current = latest_version("incident")
    schema = json.loads(current.files["forms/incident/close_incident.schema.json"])
    schema["title"] = "API 表单"
    response = client.post("/api/v1/processes/incident/versions", headers=api_as("owner"), data={
        "file": (io.BytesIO(current.bpmn_xml.encode()), "incident.bpmn"),
        "files": [(io.BytesIO(json.dumps(schema, ensure_ascii=False).encode()), "close_incident.schema.json")]})
    assert response.status_code == 201, response.json
    new = latest_version("incident")
    assert json.loads(new.files["forms/incident/close_incident.schema.json"])["title"] == "API 表单"
    assert new.files["dmn/incident_priority.dmn"] == current.files["dmn/incident_priority.dmn"]
    response = client.post("/api/v1/processes/incident/versions", headers=api_as("owner"), data={
        "file": (io.BytesIO(current.bpmn_xml.encode()), "incident.bpmn"),
        "files": [(io.BytesIO(b"{broken"), "close_incident.schema.json")]})
    assert response.status_code == 422


def test_migrate_page_moves_running_instances(login_as, user):
    from app.extensions import db
    from app.models import Event, ProcessInstance
    from app.services import incident
    from tests.support import start_data

    instance = incident.report_fault(user("reporter"), start_data())
    db.session.commit()
    old = instance.version
    client = login_as("owner")
    renamed = old.bpmn_xml.replace('name="事件关闭"', 'name="事件关闭 v+1"', 1)
    new = client.post("/modeler/incident/save", json={"xml": renamed}).json["version"]
    response = client.post("/modeler/incident/migrate", data={"from": old.version, "to": new})
    assert response.status_code == 302
    db.session.expire_all()
    moved = db.session.get(ProcessInstance, instance.id)
    assert moved.version.version == new
    events = db.session.scalars(select(Event).where(Event.instance_id == instance.id,
                                                    Event.type == "instance_migrated")).all()
    assert [e.data for e in events] == [{"from_version": old.version, "to_version": new}]
    page = client.get("/modeler/incident/versions").get_data(as_text=True)
    assert 'class="flash success"' in page and 'class="flash error"' not in page
