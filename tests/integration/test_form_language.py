"""Forms speak the UI language: Chinese by default, the form's English texts with ?lang=en."""
from __future__ import annotations

import json
from html import escape
from pathlib import Path

import pytest

from app.models import ProcessInstance
from tests.integration.helpers import form_post, ready_task
from tests.support import record, start_data

FORMS = Path(__file__).resolve().parents[2] / "forms"


def _texts(name: str) -> dict:
    return json.loads((FORMS / "incident" / name).read_text(encoding="utf-8"))


def test_start_form_in_chinese_by_default_and_in_english_on_request(db, login_as) -> None:
    field = _texts("start.schema.json")["properties"]["reporter_name"]
    option = _texts("start.schema.json")["properties"]["channel"]["oneOf"][0]
    desk = login_as("service_desk")

    zh = desk.get("/incidents/record").data.decode()
    assert escape(field["title"]) in zh and escape(option["title"]) in zh
    assert escape(field["x-translations"]["en"]["title"]) not in zh

    en = desk.get("/incidents/record?lang=en").data.decode()
    assert escape(field["x-translations"]["en"]["title"]) in en
    assert escape(field["x-translations"]["en"]["description"]) in en
    assert escape(option["x-translations"]["en"]["title"]) in en
    assert f">{escape(field['title'])}<" not in en and f">{escape(option['title'])}<" not in en


def test_task_form_and_instance_page_in_english(db, login_as) -> None:
    desk = login_as("service_desk")
    response = desk.post("/incidents/record", data=form_post(start_data()))
    instance = db.session.get(ProcessInstance, int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]))
    task = ready_task(instance.id)
    schema = _texts(f"{task.spec_id}.schema.json")
    page = desk.get(f"/tasks/{task.id}?lang=en").data.decode()
    assert escape(schema["x-translations"]["en"]["title"]) in page  # the form's legend
    impact = schema["properties"]["impact"]
    assert escape(impact["x-translations"]["en"]["title"]) in page

    data = record()
    assert desk.post(f"/tasks/{task.id}", data=form_post(data)).status_code == 302
    # The record shows the chosen impact by its label, in the page's language.
    label = next(o for o in impact["oneOf"] if o["const"] == data["impact"])
    assert escape(label["x-translations"]["en"]["title"]) in desk.get(f"/instances/{instance.id}?lang=en").data.decode()
    assert escape(label["title"]) in desk.get(f"/instances/{instance.id}?lang=zh_CN").data.decode()


def test_ci_attribute_labels_follow_the_language(db, login_as) -> None:
    line1 = login_as("support_line_1")
    assert "主机名" in line1.get("/cmdb/SRV-DB-01").data.decode()
    english = line1.get("/cmdb/SRV-DB-01?lang=en").data.decode()
    assert "Host name" in english and "主机名" not in english
    writer = login_as("configuration_lead")
    assert "Serial number" in writer.get("/cmdb/new?ci_type=server&lang=en").data.decode()


def test_task_names_follow_the_language_where_the_form_translates_them(db, login_as) -> None:
    desk = login_as("service_desk")
    response = desk.post("/incidents/record", data=form_post(start_data()))
    instance_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    task = ready_task(instance_id)
    english = _texts(f"{task.spec_id}.schema.json")["x-translations"]["en"]["title"]
    row = f'href="/tasks/{task.id}">'
    for url in ("/", f"/instances/{instance_id}"):
        assert f"{row}{escape(task.name)}<" in desk.get(url + "?lang=zh_CN").data.decode()
        assert f"{row}{escape(english)}<" in desk.get(url + "?lang=en").data.decode()
    assert f"<h1>{escape(english)} <small>" in desk.get(f"/tasks/{task.id}?lang=en").data.decode()
    history = desk.get(f"/instances/{instance_id}?lang=en").data.decode().split('id="hist-h"')[1]
    start = _texts("start.schema.json")
    assert f"{escape(start['x-translations']['en']['title'])}" in history  # the start event's step
    assert f"<strong>Task ready</strong> {escape(english)}" in history


def _recorded_incident(db, desk) -> int:
    """An incident past its first task, so its history holds script tasks, gateways and decisions."""
    response = desk.post("/incidents/record", data=form_post(start_data()))
    instance_id = int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    task = ready_task(instance_id)
    assert desk.post(f"/tasks/{task.id}", data=form_post(record())).status_code == 302
    return instance_id


def test_process_names_and_steps_without_forms_follow_the_language(db, login_as) -> None:
    desk = login_as("service_desk")
    instance_id = _recorded_incident(db, desk)
    zh = desk.get(f"/instances/{instance_id}?lang=zh_CN").data.decode()
    assert "<small>事件管理 v" in zh
    assert "确定事件优先级" in zh and "登记事件记录" in zh  # a decision and a script task, by their diagram names
    en = desk.get(f"/instances/{instance_id}?lang=en").data.decode()
    assert "<small>Incident management v" in en
    assert "Determine the incident priority" in en and "Record the incident<" in en
    assert "确定事件优先级" not in en and "事件管理 v" not in en
    # Wherever a process is chosen or listed, it is named in the page's language.
    assert ">Incident management</option>" in desk.get("/?lang=en").data.decode()
    assert ">事件管理</option>" in desk.get("/?lang=zh_CN").data.decode()
    assert "Incident management <small>incident</small>" in desk.get("/processes?lang=en").data.decode()


def test_the_auditors_replay_names_steps_in_the_page_language(db, login_as) -> None:
    instance_id = _recorded_incident(db, login_as("service_desk"))
    auditor = login_as("auditor")
    assert ">Incident management</option>" in auditor.get("/audit/instances?lang=en").data.decode()
    assert "<small>Incident management v" in auditor.get(f"/audit/instances/{instance_id}?lang=en").data.decode()
    names = {s["element"]: s["name"] for s in auditor.get(f"/audit/instances/{instance_id}/replay.json").json["steps"]}
    assert names["determine_priority"] == "Determine the incident priority"  # the cookie keeps English
    names = {s["element"]: s["name"]
             for s in auditor.get(f"/audit/instances/{instance_id}/replay.json?lang=zh_CN").json["steps"]}
    assert names["determine_priority"] == "确定事件优先级"


def test_a_version_without_english_names_falls_back_to_form_titles_then_the_diagram(db, login_as, user) -> None:
    import re

    from app.services.definitions import bundle_from_directories, deploy_bundle

    root = FORMS.parent
    (bundle,) = bundle_from_directories(root / "bpmn" / "incident.bpmn", root / "dmn", FORMS)
    bundle.bpmn = re.sub(rb'<spiffworkflow:property name="name\.en" value="[^"]*" />', b"", bundle.bpmn)
    version, created = deploy_bundle(bundle, user("admin"))
    assert created
    desk = login_as("service_desk")
    instance_id = _recorded_incident(db, desk)
    assert db.session.get(ProcessInstance, instance_id).version_id == version.id
    en = desk.get(f"/instances/{instance_id}?lang=en").data.decode()
    assert "<small>事件管理 v" in en and "确定事件优先级" in en  # nothing to translate with
    detect = _texts("detect_and_record.schema.json")["x-translations"]["en"]["title"]
    assert escape(detect) in en  # a user task still gets its form's English title


def test_ci_classes_and_the_editors_groups_follow_the_language(db, login_as) -> None:
    line1 = login_as("support_line_1")
    assert ": 服务器 ·" in line1.get("/cmdb/SRV-DB-01?lang=zh_CN").data.decode()
    page = line1.get("/cmdb/SRV-DB-01?lang=en").data.decode()
    assert "Class: Server ·" in page and ": 服务器 ·" not in page
    listing = line1.get("/cmdb?lang=en").data.decode()
    assert "<td>Server</td>" in listing and "Server: " in listing  # the column and the counts
    owner = login_as("process_owner")
    editor = owner.get("/modeler/incident?lang=en").data.decode()
    assert 'data-name="服务台">service_desk · Service desk</option>' in editor  # a lane keeps the Chinese role


# Stored codes are shown by their labels, in either language, wherever a page lists or offers them.
CODE_LABELS = [
    ("support_line_1", "/cmdb/SRV-DB-01", "使用中", "In use", 'data-status="in_use"'),  # a CI's status
    ("support_line_1", "/cmdb/SRV-DB-01", "<strong>运行于</strong>", "<strong>runs on</strong>", None),  # a relation
    ("support_line_1", "/cmdb", ">规划中</option>", ">Planned</option>", None),  # the status filter
    ("support_line_1", "/cmdb", "<td>使用中</td>", "<td>In use</td>", None),
    ("service_desk", "/knowledge", "<td>已发布</td>", "<td>Published</td>", None),  # an article's status
]


@pytest.mark.parametrize(("role", "url", "zh", "en", "marker"), CODE_LABELS)
def test_stored_codes_are_shown_by_their_labels(db, login_as, role, url, zh, en, marker) -> None:
    client = login_as(role)
    chinese = client.get(url + "?lang=zh_CN").data.decode()
    english = client.get(url + "?lang=en").data.decode()
    assert zh in chinese and en in english
    if marker:  # the code itself stays in the markup for scripts and tests
        assert marker in chinese


def test_knowledge_categories_and_asset_labels(db, login_as) -> None:
    from app.services import assets

    desk = login_as("service_desk")
    listing = desk.get("/knowledge?lang=en").data.decode()
    assert "<td>Infrastructure</td>" in listing or "<td>User terminal</td>" in listing
    assert "<td>terminal</td>" not in listing and "<td>network</td>" not in listing
    writer = login_as("configuration_lead")
    asset = assets.create_asset(writer.user, asset_type="printer", name="激光打印机")
    db.session.flush()
    page = writer.get(f"/assets/{asset.tag}?lang=en").data.decode()
    assert "<dd>Printer</dd>" in page and 'data-status="procurement">Being procured</dd>' in page
    assert ">In stock</option>" in page  # the next states offered, by label


def test_what_a_step_asks_is_shown_in_the_page_language(db, login_as) -> None:
    """The step's documentation (the spec's words) in Chinese by default, its documentation.en in English."""
    from app.services.definitions import compiled_for

    desk = login_as("service_desk")
    response = desk.post("/incidents/record", data=form_post(start_data()))
    instance = db.session.get(ProcessInstance, int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]))
    task = ready_task(instance.id)
    compiled = compiled_for(instance.version)
    chinese = compiled.user_tasks[task.spec_id].documentation
    english = compiled.docs["en"][task.spec_id]
    assert english.startswith("Table 2 step 2")
    zh_page = desk.get(f"/tasks/{task.id}?lang=zh_CN").data.decode()
    en_page = desk.get(f"/tasks/{task.id}?lang=en").data.decode()
    assert escape(chinese) in zh_page and escape(english) not in zh_page
    assert escape(english) in en_page and escape(chinese) not in en_page
