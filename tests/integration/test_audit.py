"""Audit pages and API by role: search, replay, verify, re-execute, export, view log, read-only auditors,
administrators' interventions."""
from __future__ import annotations

import csv
import io
import json
import re
import zipfile

import pytest
from sqlalchemy import func, select, update

from app.models import AuditView, Event, HumanTask, ProcessInstance
from tests.replay_support import drive
from tests.support import PATHS, start_data

AUDIT_ROLES = ("auditor", "administrator")
DENIED_ROLES = ("service_desk", "requester", "support_line_1", "incident_lead")


def _ready(db, instance):
    return db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                     HumanTask.state == "ready"))


def _views(db, endpoint):
    return db.session.scalars(select(AuditView).where(AuditView.endpoint == endpoint).order_by(AuditView.id)).all()


# --- who may see the audit views ---------------------------------------------------------------------

PAGES = ["/audit/instances", "/audit/views", "/audit/instances/{id}", "/audit/instances/{id}/replay.json",
         "/audit/instances/{id}/export.zip", "/audit/export.zip?business_key={key}"]
APIS = ["/api/v1/audit/instances", "/api/v1/audit/instances/{id}/replay", "/api/v1/audit/export?instance={id}"]
POSTS = ["/audit/instances/{id}/verify", "/audit/instances/{id}/reexecute"]
API_POSTS = ["/api/v1/audit/instances/{id}/verify", "/api/v1/audit/instances/{id}/reexecute"]


@pytest.mark.parametrize("role", AUDIT_ROLES + DENIED_ROLES)
@pytest.mark.parametrize("path", PAGES + POSTS)
def test_audit_pages_by_role(db, login_as, role, path):
    instance = drive("desk_solves")
    url = path.format(id=instance.id, key=instance.business_key)
    client = login_as(role)
    response = client.post(url) if path in POSTS else client.get(url)
    assert response.status_code == (200 if role in AUDIT_ROLES else 403), (role, url)


@pytest.mark.parametrize("role", AUDIT_ROLES + DENIED_ROLES)
@pytest.mark.parametrize("path", APIS + API_POSTS)
def test_audit_api_by_role(db, client, api_as, role, path):
    instance = drive("desk_solves")
    url = path.format(id=instance.id)
    headers = api_as(role)
    response = client.post(url, headers=headers) if path in API_POSTS else client.get(url, headers=headers)
    assert response.status_code == (200 if role in AUDIT_ROLES else 403), (role, url)


def test_audit_views_need_login_or_token(client, db):
    assert client.get("/audit/instances").status_code == 302
    assert client.get("/api/v1/audit/instances").status_code == 401


# --- search ------------------------------------------------------------------------------------------

def _keys(response):
    return {row["business_key"] for row in response.json["items"]}


def test_search_filters(db, client, api_as, user):
    done = drive("desk_solves")
    running = drive("escalations_problem_rfc_reopen", steps=6)  # escalated to the city, still running
    other = drive("out_of_scope")
    headers = api_as("auditor")

    def search(**args):
        response = client.get("/api/v1/audit/instances", query_string=args, headers=headers)
        assert response.status_code == 200, response.json
        return _keys(response)

    mine = {done.business_key, running.business_key, other.business_key}
    assert mine <= search(process="incident")
    assert search(business_key=done.business_key) == {done.business_key}
    assert search(business_key=done.business_key[:-4]) >= mine  # a prefix: today's incidents
    assert running.business_key in search(status="running") and done.business_key not in search(status="running")
    assert search(organisation="city") & mine == {running.business_key}
    assert search(actor="line3") & mine == {running.business_key}
    assert search(actor="reporter") & mine == {done.business_key}  # confirmed the resolution
    assert search(version=done.version.version, process="incident") >= mine
    assert search(version=999) == set()
    assert mine <= search(created_from="2000-01-01", created_to="2999-01-01")
    assert search(created_to="2000-01-01") == set()
    from zoneinfo import ZoneInfo

    from app.models.base import utcnow
    today = utcnow().astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()
    assert mine <= search(created_from=today, created_to=today)  # a date alone covers the whole local day
    assert mine <= search(q="连接超时")
    db.session.execute(update(ProcessInstance).where(ProcessInstance.id == other.id).values(title="独特标题"))
    assert search(q="独特") == {other.business_key}
    assert search(q="no such text anywhere") == set()
    bad = client.get("/api/v1/audit/instances", query_string={"created_from": "yesterday"}, headers=headers)
    assert bad.status_code == 400 and "created_from" in bad.json["errors"]


def test_search_pages_without_counting(db, client, api_as):
    for _ in range(3):
        drive("out_of_scope")
    headers = api_as("auditor")
    first = client.get("/api/v1/audit/instances?per_page=2&process=incident", headers=headers).json
    second = client.get("/api/v1/audit/instances?per_page=2&page=2&process=incident", headers=headers).json
    assert len(first["items"]) == 2 and first["has_next"] is True
    assert not set(_keys(type("R", (), {"json": first}))) & set(_keys(type("R", (), {"json": second})))


def test_search_page_lists_and_links_to_the_replay(db, login_as):
    instance = drive("desk_solves")
    page = login_as("auditor").get(f"/audit/instances?business_key={instance.business_key}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and f'data-key="{instance.business_key}"' in html
    assert f"/audit/instances/{instance.id}" in html
    bad = login_as("auditor").get("/audit/instances?version=x")
    assert bad.status_code == 200 and "version" in bad.get_data(as_text=True)


# --- replay -----------------------------------------------------------------------------------------

def test_replay_page_and_json(db, login_as):
    instance = drive("escalations_problem_rfc_reopen")
    client = login_as("auditor")
    page = client.get(f"/audit/instances/{instance.id}").get_data(as_text=True)
    assert "/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js" in page
    assert "/vendor/bpmn-js/assets/bpmn-js.css" in page and "replay.js" in page
    assert f"/audit/instances/{instance.id}/replay.json" in page
    data = client.get(f"/audit/instances/{instance.id}/replay.json").json
    assert data["instance"]["business_key"] == instance.business_key
    assert "incident_closed" in data["bpmn_xml"] and len(data["steps"]) == instance.event_seq
    assert data["selected"] == 0
    problem = next(link for link in data["links"] if link["process_id"] == "problem")
    # The linked instance's replay opens at the time of the link.
    linked = client.get(f"/audit/instances/{problem['instance_id']}/replay.json",
                        query_string={"at": problem["at"]}).json
    chosen = linked["steps"][linked["selected"]]
    assert chosen["at"] <= problem["at"] and linked["selected"] > 0
    assert any(s["type"] == "link_created" for s in linked["steps"][:linked["selected"] + 1])


def test_replay_views_are_logged_off_the_chain(db, login_as, api_as, client):
    instance = drive("desk_solves")
    before = (instance.event_seq, instance.event_head)
    auditor = login_as("auditor")
    auditor.get(f"/audit/instances/{instance.id}?at=2026-01-01T00:00:00")
    auditor.get("/audit/instances?process=incident&q=abc")
    client.get(f"/api/v1/audit/instances/{instance.id}/replay", headers=api_as("auditor"))
    shown = _views(db, "audit.show")[-1]
    assert shown.user.username == "auditor" and shown.instance_id == instance.id
    assert shown.filters == {"at": "2026-01-01T00:00:00"} and shown.created_at is not None
    searched = _views(db, "audit.search")[-1]
    assert searched.filters["process"] == "incident" and searched.filters["q"] == "abc"
    assert _views(db, "api.audit.replay")[-1].instance_id == instance.id
    db.session.expire_all()
    again = db.session.get(ProcessInstance, instance.id)
    assert (again.event_seq, again.event_head) == before


# --- verify and re-execute ---------------------------------------------------------------------------

def test_verify_button_reports_consistent_and_writes_nothing_to_the_instance(db, login_as):
    instance = drive("desk_solves")
    before = (instance.lock_version, instance.event_seq, instance.event_head)
    response = login_as("auditor").post(f"/audit/instances/{instance.id}/verify")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and 'data-consistent="true"' in html and 'data-kind="verify"' in html
    db.session.expire_all()
    again = db.session.get(ProcessInstance, instance.id)
    assert (again.lock_version, again.event_seq, again.event_head) == before
    assert _views(db, "audit.verify")[-1].instance_id == instance.id


def test_verify_names_the_altered_event(db, login_as, client, api_as):
    instance = drive("desk_solves")
    third = db.session.scalar(select(Event).where(Event.instance_id == instance.id, Event.seq == 3))
    db.session.execute(update(Event).where(Event.id == third.id).values(data={"name": "forged"}))
    html = login_as("auditor").post(f"/audit/instances/{instance.id}/verify").get_data(as_text=True)
    assert 'data-consistent="false"' in html and "event #3 (task_ready) has been altered" in html
    api = client.post(f"/api/v1/audit/instances/{instance.id}/verify", headers=api_as("auditor")).json
    assert api == {"consistent": False, "problem": "event #3 (task_ready) has been altered"}


def test_reexecute_button(db, login_as, client, api_as):
    instance = drive("escalations_problem_rfc_reopen")
    html = login_as("auditor").post(f"/audit/instances/{instance.id}/reexecute").get_data(as_text=True)
    assert 'data-kind="reexecute"' in html and 'data-consistent="true"' in html
    api = client.post(f"/api/v1/audit/instances/{instance.id}/reexecute", headers=api_as("auditor")).json
    assert api["consistent"] is True and api["steps"] == len(PATHS["escalations_problem_rfc_reopen"][1])


# --- export -----------------------------------------------------------------------------------------

def test_export_one_instance(db, login_as):
    instance = drive("desk_solves")
    response = login_as("auditor").get(f"/audit/instances/{instance.id}/export.zip")
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert instance.business_key in response.headers["Content-Disposition"]
    zf = zipfile.ZipFile(io.BytesIO(response.data))
    names = set(zf.namelist())
    folder = f"instances/{instance.business_key}/"
    assert {folder + "events.json", folder + "events.csv", folder + "results.json", "index.json"} <= names
    events = json.loads(zf.read(folder + "events.json"))
    assert [e["seq"] for e in events] == list(range(1, instance.event_seq + 1))
    assert events[0]["type"] == "instance_started" and events[0]["hash"] == events[1]["prev_hash"]
    csv_text = zf.read(folder + "events.csv").decode("utf-8")
    assert csv_text.splitlines()[0].startswith("seq,type,spec_id") and len(csv_text.splitlines()) > instance.event_seq
    results = json.loads(zf.read(folder + "results.json"))
    assert results["verification"] == {"consistent": True, "problem": None}
    assert results["reexecution"]["consistent"] is True
    definition = results["definition"]
    assert definition + "incident.bpmn" in names
    assert any(n.startswith(definition + "dmn/") and n.endswith(".dmn") for n in names)
    assert any(n.startswith(definition + "forms/") and n.endswith(".schema.json") for n in names)
    assert _views(db, "audit.export")[-1].instance_id == instance.id


FORMULA = '=HYPERLINK("http://x")'


def test_export_csv_neutralises_formulas(db, login_as, user):
    """A text cell of events.csv that a spreadsheet would run as a formula gets a leading apostrophe (as in
    the CMDB and case exports); events.json keeps the values as recorded."""
    from app.services import cases, identity
    from app.services.tabular import FORMULA_START, from_csv_cell

    instance = drive("desk_solves", steps=1)
    # `flask create-user` takes any username: one can start with "=".
    author = identity.create_user(FORMULA, None, user("desk").organisation, groups=["service_desk"],
                                  desk_tier="skilled", password_hash=user("desk").password_hash)
    cases.add_note(instance.id, author, FORMULA)
    db.session.commit()
    zf = zipfile.ZipFile(io.BytesIO(login_as("auditor").get(f"/audit/instances/{instance.id}/export.zip").data))
    folder = f"instances/{instance.business_key}/"
    text = zf.read(folder + "events.csv").decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["seq", "type", "spec_id", "task_guid", "actor", "organisation", "created_at", "data",
                             "prev_hash", "hash"]
    (note,) = [r for r in rows if r["type"] == cases.NOTE_EVENT]
    assert note["actor"] == "'" + FORMULA and from_csv_cell(note["actor"]) == FORMULA
    assert json.loads(note["data"])["text"] == FORMULA  # the data cell is JSON, unchanged
    assert not [c for r in rows for c in r.values() if c.startswith(FORMULA_START)]
    assert json.loads(zf.read(folder + "events.json"))[-1]["actor"] == FORMULA


def test_export_a_filtered_set_over_the_api(db, client, api_as):
    a, b = drive("desk_solves"), drive("out_of_scope")
    response = client.get("/api/v1/audit/export", query_string={"process": "incident"}, headers=api_as("auditor"))
    assert response.status_code == 200
    zf = zipfile.ZipFile(io.BytesIO(response.data))
    index = json.loads(zf.read("index.json"))
    assert {a.business_key, b.business_key} <= {i["business_key"] for i in index["instances"]}
    assert index["filters"]["process"] == "incident"
    # One copy of the version's definitions however many instances use it.
    assert len([n for n in zf.namelist() if n.endswith("incident.bpmn")]) == 1


# --- auditors are read-only everywhere ---------------------------------------------------------------

def _counts(db):
    return (db.session.scalar(select(func.count()).select_from(Event)),
            db.session.scalar(select(func.count()).select_from(ProcessInstance)),
            tuple(db.session.execute(select(HumanTask.id, HumanTask.state, HumanTask.assignee_id)
                                     .order_by(HumanTask.id)).all()))


NAMED_PAGE_POSTS = ["/incidents/record", "/incidents/report", "/tasks/{task}", "/tasks/{task}/claim",
                    "/tasks/{task}/unclaim", "/processes/{process}/start", "/tasks/{task}/reassign",
                    "/instances/{instance}/cancel", "/instances/{instance}/notes", "/instances/{instance}/withdraw"]
NAMED_API_POSTS = ["/api/v1/processes/{process}/instances", "/api/v1/tasks/{task}/claim",
                   "/api/v1/tasks/{task}/unclaim", "/api/v1/tasks/{task}/complete",
                   "/api/v1/tasks/{task}/reassign", "/api/v1/instances/{instance}/cancel",
                   "/api/v1/instances/{instance}/notes", "/api/v1/instances/{instance}/withdraw"]


def _fill(path, instance, task):
    return path.format(task=task.id, instance=instance.id, process="incident")


@pytest.mark.parametrize("path", NAMED_PAGE_POSTS)
def test_auditor_cannot_post_any_page(db, login_as, path):
    instance = drive("desk_solves", steps=1)
    task = _ready(db, instance)
    before = _counts(db)
    response = login_as("auditor").post(_fill(path, instance, task), data={
        **{k: str(v) for k, v in start_data().items()}, "desk_solved": "true", "desk_solution": "x",
        "assignee": "auditor", "reason": "r", "text": "r"})
    assert response.status_code == 403, path
    assert _counts(db) == before


API_BODIES = {"instances": {"data": start_data()}, "complete": {"data": {"desk_solved": True, "desk_solution": "x"}},
              "reassign": {"assignee": "desk_call", "reason": "r"}, "cancel": {"reason": "r"},
              "notes": {"text": "审计意见"}, "withdraw": {"reason": "r"}}


@pytest.mark.parametrize("path", NAMED_API_POSTS)
def test_auditor_cannot_post_any_api(db, client, api_as, path):
    instance = drive("desk_solves", steps=1)
    task = _ready(db, instance)
    before = _counts(db)
    response = client.post(_fill(path, instance, task), headers=api_as("auditor"),
                           json=API_BODIES.get(path.rsplit("/", 1)[-1], {}))
    assert response.status_code == 403, path
    assert _counts(db) == before


READ_ONLY_FOR_AUDITORS = {"audit.verify", "audit.reexecute", "api_audit.verify", "api_audit.reexecute",
                          "auth.login", "auth.logout", "api_auth.token"}
# The auditor's own preferences, inbox of notifications and password are theirs to change (no case data).
PERSONAL = {"notifications.settings", "notifications.read", "auth.password"}


def _snapshot(db):
    """Every row of every table except the audit view log (viewing is logged, changing nothing else)."""
    out = {}
    for table in db.metadata.sorted_tables:
        if table.name == "audit_view":
            continue
        out[table.name] = sorted(repr(tuple(row)) for row in db.session.execute(select(table)).all())
    return out


def test_auditor_changes_nothing_through_any_post_endpoint(app, db, login_as, api_as):
    """Every POST route that exists (also ones added later): nothing in the database changes. (The named
    routes above must also answer 403; others may redraw or redirect with a message.)"""
    instance = drive("desk_solves", steps=1)
    task = _ready(db, instance)
    values = {"task_id": task.id, "instance_id": instance.id, "process_id": "incident", "id": instance.id,
              "code": "VEN-EQM", "username": "line3"}  # the demo supplier and its engineer
    page, headers = login_as("auditor"), api_as("auditor")
    checked = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint in READ_ONLY_FOR_AUDITORS | PERSONAL:
            continue
        args = {name: values.get(name, 1) for name in rule.arguments}
        url = re.sub(r"<(?:[^:>]+:)?([^>]+)>", lambda m, a=args: str(a[m.group(1)]), rule.rule)
        for method in sorted({"POST", "PUT", "PATCH", "DELETE"} & (rule.methods or set())):
            before = _snapshot(db)
            if url.startswith("/api/"):
                response = page.open(url, method=method, headers=headers, json={
                    "data": {}, "assignee": "auditor", "reason": "r", "text": "r", "targets": {"satisfaction": 1},
                    "name": "r", "username": "line2", "period": "2026", "quality": 1, "timeliness": 1,
                    "cooperation": 1})
            else:
                response = page.open(url, method=method, data={"assignee": "auditor", "reason": "r", "text": "r"})
            assert response.status_code < 500, (rule.rule, method, response.status_code)
            assert _snapshot(db) == before, (rule.rule, method)
            checked.append(f"{method} {rule.rule}")
    assert "POST /tasks/<int:task_id>/claim" in checked and "POST /api/v1/tasks/<int:task_id>/complete" in checked
    assert "PUT /api/v1/kpi/targets" in checked and "PATCH /api/v1/suppliers/<code>" in checked


# --- administrators' interventions --------------------------------------------------------------------

@pytest.mark.parametrize("role", ["service_desk", "support_line_1", "requester", "auditor", "process_owner"])
def test_only_administrators_intervene(db, login_as, client, api_as, role):
    instance = drive("desk_solves", steps=1)
    task = _ready(db, instance)
    assert login_as(role).post(f"/tasks/{task.id}/reassign",
                               data={"assignee": "desk", "reason": "r"}).status_code == 403
    assert login_as(role).post(f"/instances/{instance.id}/cancel", data={"reason": "r"}).status_code == 403
    assert client.post(f"/api/v1/tasks/{task.id}/reassign", headers=api_as(role),
                       json={"assignee": "desk", "reason": "r"}).status_code == 403
    assert client.post(f"/api/v1/instances/{instance.id}/cancel", headers=api_as(role),
                       json={"reason": "r"}).status_code == 403


def test_administrator_reassigns_a_task_with_an_event(db, login_as, user):
    instance = drive("desk_solves", steps=1)
    task = _ready(db, instance)
    response = login_as("administrator").post(f"/tasks/{task.id}/reassign",
                                              data={"assignee": "desk_call", "reason": "desk on leave"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(HumanTask, task.id).assignee_id == user("desk_call").id
    event = db.session.scalar(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq.desc()))
    assert event.type == "task_reassigned" and event.actor.username == "admin"
    assert event.data["to"] == "desk_call" and event.data["reason"] == "desk on leave"
    from app.services.audit_trail import verify_instance
    assert verify_instance(db.session.get(ProcessInstance, instance.id)) == (True, None)
    # Missing reason or unknown user: refused, nothing written.
    assert login_as("administrator").post(f"/tasks/{task.id}/reassign",
                                          data={"assignee": "desk"}).status_code == 400
    assert login_as("administrator").post(f"/tasks/{task.id}/reassign",
                                          data={"assignee": "nobody", "reason": "r"}).status_code == 400


def test_administrator_cancels_an_instance_over_the_api(db, client, api_as):
    instance = drive("desk_solves", steps=1)
    task = _ready(db, instance)
    response = client.post(f"/api/v1/instances/{instance.id}/cancel", headers=api_as("administrator"),
                           json={"reason": "duplicate report"})
    assert response.status_code == 200 and response.json["status"] == "cancelled"
    db.session.expire_all()
    assert db.session.get(HumanTask, task.id).state == "cancelled"
    event = db.session.scalar(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq.desc()))
    assert event.type == "instance_cancelled" and event.data["reason"] == "duplicate report"
    assert event.data["cancelled_tasks"][0]["task_id"] == task.id
    again = client.post(f"/api/v1/instances/{instance.id}/cancel", headers=api_as("administrator"),
                        json={"reason": "again"})
    assert again.status_code == 409
    # The replay shows nothing active after the cancellation, and the record still re-executes.
    data = client.get(f"/api/v1/audit/instances/{instance.id}/replay", headers=api_as("auditor")).json
    assert data["steps"][-1]["type"] == "instance_cancelled" and data["steps"][-1]["active"] == []
    assert client.post(f"/api/v1/audit/instances/{instance.id}/reexecute",
                       headers=api_as("auditor")).json["consistent"] is True


def test_api_reassign(db, client, api_as, user):
    instance = drive("desk_solves", steps=1)
    task = _ready(db, instance)
    response = client.post(f"/api/v1/tasks/{task.id}/reassign", headers=api_as("administrator"),
                           json={"assignee": "desk_call", "reason": "load balancing"})
    assert response.status_code == 200 and response.json["assignee"] == "desk_call"


def test_reexecution_of_the_whole_cross_process_chain(db, login_as, client, api_as):
    """incident → problem → change (CAB multi-instance vote, CI change) → release and the replies back:
    every instance re-executes consistently, and the verification passes."""
    from tests.integration.test_chain import test_incident_to_problem_to_change_to_release_and_back as chain

    chain(db, login_as)
    instances = db.session.scalars(select(ProcessInstance).order_by(ProcessInstance.id)).all()
    assert {"incident", "problem", "change", "release"} <= {i.process_id for i in instances}
    headers = api_as("auditor")
    for instance in instances:
        result = client.post(f"/api/v1/audit/instances/{instance.id}/reexecute", headers=headers).json
        assert result["consistent"], (instance.business_key, result)
        assert client.post(f"/api/v1/audit/instances/{instance.id}/verify", headers=headers).json["consistent"]


def test_audit_endpoints_are_in_the_openapi_document(client, db):
    paths = client.get("/api/v1/openapi.json").json["paths"]
    for path in ("/api/v1/audit/instances", "/api/v1/audit/instances/{instance_id}/replay",
                 "/api/v1/audit/instances/{instance_id}/verify", "/api/v1/audit/instances/{instance_id}/reexecute",
                 "/api/v1/audit/export", "/api/v1/tasks/{task_id}/reassign", "/api/v1/instances/{instance_id}/cancel"):
        assert path in paths, path


def test_audit_view_log_page(db, login_as):
    instance = drive("desk_solves")
    login_as("auditor").get(f"/audit/instances/{instance.id}")
    html = login_as("administrator").get("/audit/views?user=auditor").get_data(as_text=True)
    assert "audit.show" in html and f"/audit/instances/{instance.id}" in html
    assert "audit.show" not in login_as("administrator").get("/audit/views?user=desk").get_data(as_text=True)


def test_the_package_carries_the_files_of_notes(db, login_as, user):
    import hashlib

    from app.services import cases

    instance = drive("desk_solves", steps=1)
    png = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32
    cases.add_note(instance.id, user("desk"), "现场照片", internal=True, files=[("机房.png", png)])
    db.session.commit()
    zf = zipfile.ZipFile(io.BytesIO(login_as("auditor").get(f"/audit/instances/{instance.id}/export.zip").data))
    results = json.loads(zf.read(f"instances/{instance.business_key}/results.json"))
    (entry,) = results["attachments"]
    assert zf.read(entry["path"]) == png and entry["sha256"] == hashlib.sha256(png).hexdigest()
    events = json.loads(zf.read(f"instances/{instance.business_key}/events.json"))
    note = next(e for e in events if e["seq"] == entry["event_seq"])
    assert note["data"]["attachments"][0]["sha256"] == entry["sha256"]
