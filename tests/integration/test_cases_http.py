"""The case list and notes over HTTP, by role: pages and API."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.models import Event
from app.services import cases, incident
from tests.conftest import ROLE_USERS
from tests.replay_support import drive
from tests.support import start_data


@pytest.fixture
def county_and_city(db, user):
    county = drive("desk_solves", steps=1)  # reported by `reporter`, recorded by the county desk
    city = incident.record_incident(user("desk_city"), start_data(symptoms="市局门户无法访问"))
    db.session.commit()
    return county, city


def _keys(html: str) -> set[str]:
    return set(re.findall(r'<tr data-key="([^"]+)"', html))


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
def test_every_role_has_the_case_list(login_as, county_and_city, role):
    page = login_as(role).get("/instances")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'href="/instances"' in html  # in the menu
    county, city = county_and_city
    viewer = login_as(role).user
    from app.services.instances import can_view_instance

    assert _keys(html) & {county.business_key, city.business_key} == {
        i.business_key for i in (county, city) if can_view_instance(viewer, i)}


def test_the_list_says_where_each_case_stands(login_as, county_and_city):
    county, _city = county_and_city
    html = login_as("service_desk").get(f"/instances?business_key={county.business_key}").get_data(as_text=True)
    assert _keys(html) == {county.business_key}
    row = html[html.index(f'data-key="{county.business_key}"'):]
    row = row[:row.index("</tr>")]
    assert "分类和初步支持" in row and "服务台" in row


def test_a_requester_has_my_requests_without_a_scope_choice(login_as, county_and_city):
    county, city = county_and_city
    html = login_as("requester").get("/instances?scope=visible").get_data(as_text=True)
    assert "我提交的工单" in html and 'name="scope"' not in html
    assert _keys(html) == {county.business_key}


def test_filters_and_bad_filters(login_as, county_and_city):
    county, city = county_and_city
    desk_city = login_as("desk_city")
    assert _keys(desk_city.get("/instances?q=门户").get_data(as_text=True)) == {city.business_key}
    assert _keys(desk_city.get("/instances?organisation=county").get_data(as_text=True)) == {county.business_key}
    assert _keys(desk_city.get("/instances?scope=mine").get_data(as_text=True)) == {city.business_key}
    bad = desk_city.get("/instances?created_from=tomorrow&q=门户")
    assert bad.status_code == 400 and 'id="error-created_from"' in bad.get_data(as_text=True)


def test_pages_keep_the_filters(login_as, db, user, monkeypatch):
    from app.web import instances as pages

    for _ in range(3):
        incident.record_incident(user("desk"), start_data(symptoms="打印机卡纸"))
    db.session.commit()
    monkeypatch.setattr(pages, "PAGE_SIZE", 2)
    html = login_as("service_desk").get("/instances?q=打印机").get_data(as_text=True)
    assert len(_keys(html)) == 2
    link = re.search(r'<a href="([^"]+)" rel="next">', html).group(1).replace("&amp;", "&")
    assert "page=2" in link and "q=" in link


def test_inbox_pages_keep_the_filters(login_as, db, user, monkeypatch):
    """The inbox's pager used to drop the process and priority filters."""
    from app.web import inbox

    for _ in range(3):
        drive("desk_solves", steps=1)  # classified: the desk's task carries the priority (P4)
    monkeypatch.setattr(inbox, "PAGE_SIZE", 2)
    html = login_as("service_desk").get("/?process=incident&priority=P4").get_data(as_text=True)
    pager = html[html.index('class="pager"'):]
    link = re.search(r'<a href="([^"]+)">›</a>', pager).group(1).replace("&amp;", "&")
    assert "page=2" in link and "process=incident" in link and "priority=P4" in link


# --- notes on the case page ---------------------------------------------------------------------------

def test_notes_on_the_case_page(login_as, county_and_city):
    county, _city = county_and_city
    reporter, desk = login_as("requester"), login_as("service_desk")
    assert reporter.post(f"/instances/{county.id}/notes", data={"text": "下午三点后方便联系"}).status_code == 302
    assert desk.post(f"/instances/{county.id}/notes",
                     data={"text": "疑似监听器故障", "internal": "1"}).status_code == 302
    staff_page = desk.get(f"/instances/{county.id}").get_data(as_text=True)
    assert "下午三点后方便联系" in staff_page and "疑似监听器故障" in staff_page
    reporter_page = reporter.get(f"/instances/{county.id}").get_data(as_text=True)
    assert "下午三点后方便联系" in reporter_page and "疑似监听器故障" not in reporter_page
    assert 'name="internal"' not in reporter_page and 'name="internal"' in staff_page


def test_a_refused_note_keeps_what_was_typed(login_as, county_and_city, db):
    county, _city = county_and_city
    before = db.session.scalar(select(func.count()).select_from(Event))
    text = "很长的说明" * 1000
    page = login_as("service_desk").post(f"/instances/{county.id}/notes", data={"text": text})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert text in html and 'id="note-text-error"' in html
    assert db.session.scalar(select(func.count()).select_from(Event)) == before


def test_a_note_form_without_csrf_token_is_refused(app, login_as, county_and_city, db):
    county, _city = county_and_city
    before = db.session.scalar(select(func.count()).select_from(Event))
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert login_as("service_desk").post(f"/instances/{county.id}/notes",
                                             data={"text": "x"}).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert db.session.scalar(select(func.count()).select_from(Event)) == before


@pytest.mark.parametrize("role, status", [("auditor", 403), ("desk_city", 302), ("line1_city", 302),
                                          ("process_owner", 302)])
def test_who_may_write_on_a_county_case(login_as, county_and_city, role, status):
    """Whoever may see the case, levels above included; never an auditor."""
    county, _city = county_and_city
    assert login_as(role).post(f"/instances/{county.id}/notes", data={"text": "知悉"}).status_code == status


def test_the_county_may_not_write_on_a_city_case(login_as, county_and_city):
    _county, city = county_and_city
    assert login_as("service_desk").post(f"/instances/{city.id}/notes", data={"text": "x"}).status_code == 403


def test_a_closed_case_shows_its_notes_and_no_form(login_as, db):
    instance = drive("desk_solves")
    html = login_as("service_desk").get(f"/instances/{instance.id}").get_data(as_text=True)
    assert 'id="note-form"' not in html
    assert login_as("service_desk").post(f"/instances/{instance.id}/notes", data={"text": "x"}).status_code == 409


# --- API --------------------------------------------------------------------------------------------------

def test_api_lists_cases_with_where_they_stand(client, api_as, county_and_city):
    county, city = county_and_city
    body = client.get("/api/v1/instances?per_page=200", headers=api_as("desk_city")).get_json()
    keys = {i["business_key"] for i in body["items"]}
    assert {county.business_key, city.business_key} <= keys and body["page"] == 1
    item = next(i for i in body["items"] if i["business_key"] == county.business_key)
    assert [t["spec_id"] for t in item["open_tasks"]] == ["classify_and_first_support"]
    mine = client.get("/api/v1/instances?scope=mine", headers=api_as("requester")).get_json()
    assert {i["business_key"] for i in mine["items"]} == {county.business_key}
    county_desk = client.get("/api/v1/instances?per_page=200", headers=api_as("service_desk")).get_json()
    assert city.business_key not in {i["business_key"] for i in county_desk["items"]}


@pytest.mark.parametrize("query, field", [("status=open", "status"), ("scope=all", "scope"),
                                          ("created_to=2026-13-01", "created_to")])
def test_api_bad_filters(client, api_as, query, field):
    r = client.get(f"/api/v1/instances?{query}", headers=api_as("service_desk"))
    assert r.status_code == 400 and field in r.get_json()["errors"]


def test_api_pages(client, api_as, db, user):
    for _ in range(3):
        incident.record_incident(user("desk"), start_data())
    db.session.commit()
    first = client.get("/api/v1/instances?per_page=2", headers=api_as("service_desk")).get_json()
    second = client.get("/api/v1/instances?per_page=2&page=2", headers=api_as("service_desk")).get_json()
    assert len(first["items"]) == 2 and first["has_next"]
    assert {i["id"] for i in first["items"]}.isdisjoint({i["id"] for i in second["items"]})


def test_api_notes(client, api_as, county_and_city):
    county, _city = county_and_city
    url = f"/api/v1/instances/{county.id}/notes"
    made = client.post(url, json={"text": "已远程协助", "internal": False}, headers=api_as("service_desk"))
    assert made.status_code == 201
    assert made.get_json()["text"] == "已远程协助" and made.get_json()["author"] == "desk"
    inner = client.post(url, json={"text": "需要厂商介入", "internal": True}, headers=api_as("service_desk"))
    assert inner.status_code == 201 and inner.get_json()["internal"] is True
    as_reporter = client.get(url, headers=api_as("requester")).get_json()
    assert [n["text"] for n in as_reporter] == ["已远程协助"]
    assert len(client.get(url, headers=api_as("support_line_1")).get_json()) == 2
    events = client.get(f"/api/v1/instances/{county.id}/events", headers=api_as("requester")).get_json()
    assert "需要厂商介入" not in str(events) and "已远程协助" in str(events)


@pytest.mark.parametrize("role, body, status, error", [
    ("auditor", {"text": "x"}, 403, "forbidden"),
    ("requester", {"text": "x", "internal": True}, 403, "forbidden"),
    ("service_desk", {"text": "  "}, 400, "validation_failed"),
    ("service_desk", {"text": 5}, 422, "unprocessable_entity"),
    ("desk_city", {"text": "x"}, 201, None),
])
def test_api_note_refusals(client, api_as, county_and_city, role, body, status, error):
    county, _city = county_and_city
    r = client.post(f"/api/v1/instances/{county.id}/notes", json=body, headers=api_as(role))
    assert r.status_code == status
    if error:
        assert r.get_json()["error"] == error


def test_api_note_on_a_closed_or_missing_case(client, api_as, db):
    done = drive("desk_solves")
    r = client.post(f"/api/v1/instances/{done.id}/notes", json={"text": "x"}, headers=api_as("service_desk"))
    assert r.status_code == 409 and r.get_json()["state"] == "completed"
    assert client.post("/api/v1/instances/999999/notes", json={"text": "x"},
                       headers=api_as("service_desk")).status_code == 404


def test_notes_in_english(login_as, county_and_city):
    county, _city = county_and_city
    page = login_as("service_desk").get(f"/instances/{county.id}?lang=en").get_data(as_text=True)
    assert "Add a note" in page and "Internal (staff only" in page
    assert "Cases" in login_as("service_desk").get("/instances?lang=en").get_data(as_text=True)
    assert cases.NOTE_EVENT == "note_added"


# --- spreadsheets -----------------------------------------------------------------------------------------

def test_the_search_as_a_spreadsheet(login_as, county_and_city, db, user):
    import csv
    import io

    from openpyxl import load_workbook

    county, city = county_and_city
    evil = incident.record_incident(user("desk"), start_data(symptoms="x"))
    evil.title = '=HYPERLINK("http://attacker.example","点我")'
    db.session.commit()
    desk_city = login_as("desk_city")
    html = desk_city.get("/instances?organisation=county").get_data(as_text=True)
    assert 'href="/instances/export.xlsx?organisation=county"' in html
    book = desk_city.get("/instances/export.xlsx?organisation=county")
    assert book.status_code == 200 and book.headers["Content-Disposition"].endswith("cases.xlsx")
    sheet = load_workbook(io.BytesIO(book.data)).active
    rows = [[c.value for c in row] for row in sheet.iter_rows()]
    assert rows[0][:3] == ["工单", "流程", "标题"]
    assert {r[0] for r in rows[1:]} == {county.business_key, evil.business_key}
    assert all(c.data_type != "f" for row in sheet.iter_rows() for c in row)
    county_row = next(r for r in rows if r[0] == county.business_key)
    assert "分类和初步支持" in county_row[5] and county_row[4] == "进行中"
    text = desk_city.get("/instances/export.csv?lang=en").data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][0] == "Case" and {r[0] for r in table[1:]} >= {county.business_key, city.business_key}
    assert next(r for r in table if r[0] == evil.business_key)[2].startswith("'=")


def test_a_requester_downloads_only_their_own_requests(login_as, county_and_city):
    county, _city = county_and_city
    text = login_as("requester").get("/instances/export.csv?scope=visible").data.decode("utf-8-sig")
    assert [r.split(",")[0] for r in text.splitlines()[1:]] == [county.business_key]


def test_too_many_cases_for_a_spreadsheet(login_as, county_and_city, monkeypatch):
    monkeypatch.setattr(cases, "MAX_EXPORT", 1)
    page = login_as("desk_city").get("/instances/export.xlsx")
    assert page.status_code == 400 and "缩小查询范围" in page.get_data(as_text=True)
    assert login_as("desk_city").get("/instances/export.pdf").status_code == 404


# --- files ------------------------------------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_files_with_a_note_on_the_page(login_as, county_and_city):
    import io

    county, _city = county_and_city
    reporter = login_as("requester")
    sent = reporter.post(f"/instances/{county.id}/notes", content_type="multipart/form-data", data={
        "text": "报错截图见附件", "files": [(io.BytesIO(PNG), "报错.png"), (io.BytesIO(b"ORA-12170"), "alert.log")]})
    assert sent.status_code == 302
    html = reporter.get(f"/instances/{county.id}").get_data(as_text=True)
    links = re.findall(rf'href="(/instances/{county.id}/attachments/\d+)"', html)
    assert len(links) == 2 and '<img src="' + links[0] in html  # the image is shown, the log only linked
    image, log = reporter.get(links[0]), reporter.get(links[1])
    assert image.data == PNG and image.mimetype == "image/png"
    assert image.headers["Content-Disposition"].startswith("inline;")
    assert "sandbox" in image.headers["Content-Security-Policy"]
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert log.mimetype == "application/octet-stream" and log.headers["Content-Disposition"].startswith("attachment;")
    assert "filename*=UTF-8''alert.log" in log.headers["Content-Disposition"]
    # A stranger to the case gets nothing.
    assert login_as("service_desk").get(links[0]).status_code == 200
    assert login_as("desk_city").get(links[0]).status_code == 200  # the level above
    _county, city = county_and_city
    assert login_as("service_desk").get(f"/instances/{city.id}/attachments/1").status_code == 403


def test_a_refused_file_keeps_the_note_text(login_as, county_and_city, db):
    import io

    county, _city = county_and_city
    before = db.session.scalar(select(func.count()).select_from(Event))
    page = login_as("service_desk").post(f"/instances/{county.id}/notes", content_type="multipart/form-data", data={
        "text": "请看这个脚本", "files": [(io.BytesIO(b"<script>"), "x.html")]})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "请看这个脚本" in html and 'id="note-files-error"' in html and "x.html" in html
    assert db.session.scalar(select(func.count()).select_from(Event)) == before


def test_api_files(client, api_as, county_and_city):
    import base64

    county, _city = county_and_city
    made = client.post(f"/api/v1/instances/{county.id}/notes", headers=api_as("service_desk"), json={
        "text": "", "internal": True,
        "attachments": [{"filename": "诊断.png", "content_base64": base64.b64encode(PNG).decode()}]})
    assert made.status_code == 201
    (file,) = made.get_json()["attachments"]
    assert file["filename"] == "诊断.png" and file["size"] == len(PNG) and file["content_type"] == "image/png"
    got = client.get(file["url"], headers=api_as("support_line_1"))
    assert got.status_code == 200 and got.data == PNG
    assert client.get(file["url"], headers=api_as("requester")).status_code == 404  # an internal note's file
    listed = client.get(f"/api/v1/instances/{county.id}/notes", headers=api_as("auditor")).get_json()
    assert listed[-1]["attachments"][0]["sha256"] == file["sha256"]
    bad = client.post(f"/api/v1/instances/{county.id}/notes", headers=api_as("service_desk"), json={
        "attachments": [{"filename": "a.png", "content_base64": "not base64!"}]})
    assert bad.status_code == 400 and "attachments" in bad.get_json()["errors"]
    empty = client.post(f"/api/v1/instances/{county.id}/notes", headers=api_as("service_desk"), json={})
    assert empty.status_code == 400 and "text" in empty.get_json()["errors"]


def test_api_start_with_files(client, api_as, db):
    """A fault reported, or a change requested, through the API with a screenshot: the file is the case's first
    note; a refused file refuses the start and nothing is saved."""
    import base64

    from app.models import ProcessInstance

    png = [{"filename": "报错.png", "content_base64": base64.b64encode(PNG).decode()}]
    started = client.post("/api/v1/processes/incident/instances", headers=api_as("requester"),
                          json={"data": start_data(), "attachments": png})
    assert started.status_code == 201
    notes = client.get(f"/api/v1/instances/{started.get_json()['id']}/notes", headers=api_as("requester")).get_json()
    assert [(n["text"], [f["filename"] for f in n["attachments"]]) for n in notes] == [("", ["报错.png"])]
    change = client.post("/api/v1/processes/change/instances", headers=api_as("change_lead"), json={
        "data": {"summary": "扩容", "description": "扩容存储", "impact": "low", "urgency": "low", "risk": "low",
                 "change_type": "normal"}, "attachments": png})
    assert change.status_code == 201
    assert client.get(f"/api/v1/instances/{change.get_json()['id']}/notes",
                      headers=api_as("change_lead")).get_json()[0]["attachments"][0]["filename"] == "报错.png"
    before = db.session.scalar(select(func.count()).select_from(ProcessInstance))
    for files in ([{"filename": "x.exe", "content_base64": base64.b64encode(b"MZ...").decode()}],
                  [{"filename": "a.png", "content_base64": "not base64!"}]):
        refused = client.post("/api/v1/processes/incident/instances", headers=api_as("requester"),
                              json={"data": start_data(), "attachments": files})
        assert refused.status_code == 400 and "attachments" in refused.get_json()["errors"], refused.get_json()
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == before


def test_a_fault_reported_with_a_screenshot(login_as, db):
    import io

    from app.models import CaseAttachment, ProcessInstance
    from tests.integration.helpers import form_post

    reporter = login_as("requester")
    data = {**form_post({k: v for k, v in start_data().items() if k not in ("reporter_name", "reporter_contact")}),
            "files": [(io.BytesIO(PNG), "蓝屏.png")]}
    made = reporter.post("/incidents/report", content_type="multipart/form-data", data=data)
    assert made.status_code == 302
    instance = db.session.get(ProcessInstance, int(made.headers["Location"].rsplit("/", 1)[-1]))
    (att,) = db.session.scalars(select(CaseAttachment).where(CaseAttachment.instance_id == instance.id)).all()
    assert att.filename == "蓝屏.png" and att.data == PNG
    assert "蓝屏.png" in reporter.get(f"/instances/{instance.id}").get_data(as_text=True)


def test_a_refused_file_refuses_the_report_and_keeps_the_form(login_as, db):
    import io

    from app.models import ProcessInstance
    from tests.integration.helpers import form_post

    before = db.session.scalar(select(func.count()).select_from(ProcessInstance))
    data = {**form_post(start_data(symptoms="显示器无信号")), "files": [(io.BytesIO(b"MZ"), "tool.exe")]}
    page = login_as("service_desk").post("/incidents/record", content_type="multipart/form-data", data=data)
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert "显示器无信号" in html and 'id="report-files-error"' in html and "tool.exe" in html
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == before
    # A form error with a file chosen: the browser cannot keep the file, so the page says to choose it again.
    bad = {**form_post(start_data(symptoms="")), "files": [(io.BytesIO(PNG), "a.png")]}
    again = login_as("service_desk").post("/incidents/record", content_type="multipart/form-data", data=bad)
    assert again.status_code == 400 and 'id="report-files-error"' in again.get_data(as_text=True)


def test_the_task_page_shows_the_notes_before_the_step_is_done(login_as, county_and_city, db):
    import io

    county, _city = county_and_city
    login_as("requester").post(f"/instances/{county.id}/notes", content_type="multipart/form-data", data={
        "text": "重启后仍然报错", "files": [(io.BytesIO(PNG), "重启后.png")]})
    login_as("service_desk").post(f"/instances/{county.id}/notes", data={"text": "疑似驱动问题", "internal": "1"})
    from tests.integration.helpers import ready_task

    task = ready_task(county.id)
    html = login_as("service_desk").get(f"/tasks/{task.id}").get_data(as_text=True)
    assert "重启后仍然报错" in html and "疑似驱动问题" in html and 'alt="重启后.png"' in html
    assert f'href="/instances/{county.id}#notes-h"' in html

    # The requester's own task (confirming the resolution) shows the public notes only.
    solved = drive("desk_solves", steps=2)
    login_as("service_desk").post(f"/instances/{solved.id}/notes", data={"text": "已远程修复"})
    login_as("service_desk").post(f"/instances/{solved.id}/notes", data={"text": "根因待查", "internal": "1"})
    confirm = ready_task(solved.id)
    assert confirm.spec_id == "confirm_resolution"
    page = login_as("requester").get(f"/tasks/{confirm.id}").get_data(as_text=True)
    assert "已远程修复" in page and "根因待查" not in page


# --- a requester withdraws their request ------------------------------------------------------------------

def test_the_requester_withdraws_a_request(login_as, county_and_city, db, user):
    from app.models import Incident, Notification, ProcessInstance, SlaClock

    county, _city = county_and_city
    page = login_as("requester").get(f"/instances/{county.id}").get_data(as_text=True)
    assert 'id="withdraw-form"' in page
    assert 'id="withdraw-form"' not in login_as("service_desk").get(f"/instances/{county.id}").get_data(as_text=True)
    done = login_as("requester").post(f"/instances/{county.id}/withdraw", data={"reason": "重启后恢复正常"})
    assert done.status_code == 302
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, county.id)
    assert instance.status == "cancelled"
    assert db.session.scalar(select(Incident).where(Incident.instance_id == county.id)).status == "cancelled"
    assert {c.status for c in db.session.scalars(select(SlaClock).where(SlaClock.instance_id == county.id))} <= {
        "cancelled", "stopped"}
    last = db.session.scalar(select(Event).where(Event.instance_id == county.id).order_by(Event.seq.desc()))
    assert last.type == "instance_withdrawn" and last.data["reason"] == "重启后恢复正常"
    assert last.data["cancelled_tasks"] and last.actor_id == user("reporter").id
    # The desk, whose group held the open task, is told.
    told = {n.user.username for n in db.session.scalars(select(Notification).where(
        Notification.instance_id == county.id, Notification.kind == "case_withdrawn"))}
    assert told == {"desk", "desk_call"}
    html = login_as("service_desk").get(f"/instances/{county.id}").get_data(as_text=True)
    assert "报告人已撤销" in html and "重启后恢复正常" in html
    again = login_as("requester").post(f"/instances/{county.id}/withdraw", data={"reason": "x"})
    assert again.status_code == 409


@pytest.mark.parametrize("role", ["service_desk", "desk_city", "administrator", "auditor"])
def test_only_the_requester_withdraws(login_as, county_and_city, db, role):
    county, _city = county_and_city
    assert login_as(role).post(f"/instances/{county.id}/withdraw", data={"reason": "x"}).status_code == 403
    db.session.expire_all()
    assert db.session.get(type(county), county.id).status == "running"


def test_a_withdrawal_needs_a_reason_and_the_api_does_it_too(client, api_as, login_as, county_and_city, db):
    county, _city = county_and_city
    assert login_as("requester").post(f"/instances/{county.id}/withdraw", data={"reason": " "}).status_code == 400
    r = client.post(f"/api/v1/instances/{county.id}/withdraw", json={"reason": ""}, headers=api_as("requester"))
    assert r.status_code == 400 and "reason" in r.get_json()["errors"]
    r = client.post(f"/api/v1/instances/{county.id}/withdraw", json={"reason": "误报"}, headers=api_as("requester"))
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled" and r.get_json()["open_tasks"] == []
    r = client.post(f"/api/v1/instances/{county.id}/withdraw", json={"reason": "误报"}, headers=api_as("requester"))
    assert r.status_code == 409


def test_an_auditor_replays_a_withdrawn_case_to_its_end(db, login_as, county_and_city):
    from app.services import replay

    county, _city = county_and_city
    login_as("requester").post(f"/instances/{county.id}/withdraw", data={"reason": "不需要了"})
    db.session.expire_all()
    steps = replay.replay_data(db.session.get(type(county), county.id))["steps"]
    assert steps[-1]["type"] == "instance_withdrawn" and steps[-1]["active"] == []
    assert replay.reexecute(db.session.get(type(county), county.id)).consistent
