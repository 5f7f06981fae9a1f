"""Editing definitions: upload, decisions, forms, history, compare, migrate, export (services only)."""
from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from app.models import DueTimer, Event, HumanTask
from app.models.base import utcnow
from app.services import incident, instances, modeling
from app.services.definitions import latest_version
from app.services.errors import Conflict, DefinitionRejected, Forbidden, NotFound
from tests.support import record, start_data


def _rename(xml: str, element_id: str, name: str) -> bytes:
    out, n = re.subn(rf'(id="{element_id}"[^>]*?name=")[^"]*(")', rf"\g<1>{name}\g<2>", xml, count=1)
    assert n == 1
    return out.encode("utf-8")


def test_upload_deploys_next_version_reusing_dmn_and_forms(db, user):
    owner = user("owner")
    current = latest_version("incident")
    version, created = modeling.deploy_upload("incident", _rename(current.bpmn_xml, "close_incident", "关闭"),
                                              owner, "renamed")
    assert created and version.version == current.version + 1
    assert version.note == "renamed" and version.deployed_by_id == owner.id
    assert version.files == current.files
    same, created = modeling.deploy_upload("incident", version.bpmn_xml.encode(), owner)
    assert not created and same.id == version.id


def test_upload_refuses_broken_diagram_with_element_ids(db, user):
    current = latest_version("incident")
    broken = current.bpmn_xml.replace('value="close_incident.schema.json"', 'value="nope.schema.json"')
    with pytest.raises(DefinitionRejected) as info:
        modeling.deploy_upload("incident", broken.encode(), user("owner"))
    assert any(i["element_id"] == "close_incident" for i in info.value.issues)
    assert latest_version("incident").id == current.id


@pytest.mark.parametrize("doc", [
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    b"<definitions><unclosed></definitions>",
])
def test_upload_refuses_unsafe_or_malformed_xml(db, user, doc):
    with pytest.raises(DefinitionRejected) as info:
        modeling.deploy_upload("incident", doc, user("owner"))
    assert info.value.issues and info.value.issues[0]["message"]


def test_upload_refuses_oversized(app, db, user, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_DEFINITION_BYTES", 1000)
    with pytest.raises(DefinitionRejected) as info:
        modeling.deploy_upload("incident", latest_version("incident").bpmn_xml.encode(), user("owner"))
    assert "exceeds" in info.value.message


@pytest.mark.parametrize("who", ["auditor", "desk"])
def test_only_owners_and_admins_edit(db, user, who):
    with pytest.raises(Forbidden):
        modeling.deploy_upload("incident", latest_version("incident").bpmn_xml.encode(), user(who))


def test_deploy_decision_revalidates_every_user(db, user):
    path, xml = modeling.decision_source("incident_priority")
    edited = xml.replace('"P1"', '"P0"', 1)
    assert edited != xml
    deployed = modeling.deploy_decision("incident_priority", edited.encode(), user("admin"))
    assert [v.process_id for v in deployed] == ["incident"]
    assert latest_version("incident").files[path] == edited


def test_deploy_decision_refuses_broken_table(db, user):
    _path, xml = modeling.decision_source("incident_priority")
    before = latest_version("incident").id
    broken = re.sub(r"(<inputEntry[^>]*>\s*<text>)[^<]*(</text>)", r"\g<1>[1..\g<2>", xml, count=1)
    with pytest.raises(DefinitionRejected) as info:
        modeling.deploy_decision("incident_priority", broken.encode(), user("owner"))
    assert info.value.issues
    assert latest_version("incident").id == before
    with pytest.raises(NotFound):
        modeling.deploy_decision("no_such_decision", broken.encode(), user("owner"))


def test_try_decision_uses_engine_evaluation(db, user):
    _path, xml = modeling.decision_source("incident_priority")
    out = modeling.try_decision(xml.encode(), {"impact": "high", "urgency": "high"}, user("owner"))
    assert out["error"] is None and out["outputs"] and out["matched"]
    inputs = modeling.decision_inputs(xml.encode())
    assert {i["expression"] for i in inputs} == {"impact", "urgency"}


def test_form_edit_deploys_and_refuses_invalid_schema(db, user):
    text = modeling.form_source("incident", "close_incident.schema.json")
    schema = json.loads(text)
    schema["title"] = "关闭事件(改)"
    version, created = modeling.deploy_form("incident", "close_incident.schema.json",
                                            json.dumps(schema, ensure_ascii=False), user("owner"))
    assert created and json.loads(version.files["forms/incident/close_incident.schema.json"])["title"] == "关闭事件(改)"
    with pytest.raises(DefinitionRejected):
        modeling.deploy_form("incident", "close_incident.schema.json", '{"type": "nonsense"}', user("owner"))
    with pytest.raises(DefinitionRejected):
        modeling.deploy_form("incident", "close_incident.schema.json", "{not json", user("owner"))


def test_history_and_compare(db, user):
    current = latest_version("incident")
    new, _ = modeling.deploy_upload("incident", _rename(current.bpmn_xml, "close_incident", "关闭"), user("owner"))
    assert [v.version for v in modeling.history("incident")][:2] == [new.version, current.version]
    diff = modeling.compare("incident", current.version, new.version)
    assert [c["id"] for c in diff["changed"]] == ["close_incident"]
    assert diff["changed"][0]["changes"]["name"]["to"] == "关闭"
    assert diff["added"] == [] and diff["removed"] == []


def test_compare_shows_a_changed_english_name_of_a_step_and_of_the_process(db, user):
    current = latest_version("incident")
    xml = current.bpmn_xml.replace('value="Incident management"', 'value="Incidents"', 1)
    xml = xml.replace('value="In scope?"', 'value="Ours to handle?"', 1)
    new, created = modeling.deploy_upload("incident", xml.encode("utf-8"), user("owner"))
    assert created
    changed = {c["id"]: c for c in modeling.compare("incident", current.version, new.version)["changed"]}
    assert set(changed) == {"incident", "in_scope_gateway"}
    assert changed["incident"]["type"] == "process"
    assert changed["incident"]["changes"]["properties"]["to"]["name.en"] == "Incidents"
    assert changed["in_scope_gateway"]["changes"]["properties"]["to"]["name.en"] == "Ours to handle?"


def _running_incident(user):
    instance = incident.report_fault(user("reporter"), start_data())
    db_task = next(t for t in instance_tasks(instance))
    return instance, db_task


def instance_tasks(instance):
    from app.extensions import db
    return db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                      HumanTask.state == "ready")).all()


def test_migrate_running_instance_and_complete_it(db, user):
    instance, task = _running_incident(user)
    assert task.spec_id == "detect_and_record"
    current = latest_version("incident")
    xml = _rename(current.bpmn_xml, "detect_and_record", "检测并记录").decode()
    new, _ = modeling.deploy_upload("incident", _rename(xml, "close_incident", "关闭事件!"), user("owner"))
    modeling.migrate(instance, new, user("owner"))
    assert instance.version_id == new.id
    assert task.name == "检测并记录"
    event = db.session.scalars(select(Event).where(Event.instance_id == instance.id, Event.type == "instance_migrated")
                               ).one()
    assert event.data == {"from_version": current.version, "to_version": new.version}
    # The migrated instance runs on: complete the waiting task on the new version's spec.
    instances.complete_task(task.id, user("desk"), record())
    assert [t.spec_id for t in instance_tasks(instance)] == ["classify_and_first_support"]
    assert instance.version_id == new.id


def test_migrate_rebuilds_the_instance_timer_rows_from_the_new_version(db, user):
    """After a migration the due-timer rows are what the new version's engine waits on, nothing stale."""
    instance, _task = _running_incident(user)
    # A row the engine does not wait on (as the old version's timer would leave behind).
    db.session.add(DueTimer(instance_id=instance.id, element_id="old_version_timer", due_at=utcnow(), fired=False))
    db.session.flush()
    xml = _rename(latest_version("incident").bpmn_xml, "detect_and_record", "检测并记录").decode()
    new, _ = modeling.deploy_upload("incident", xml.encode(), user("owner"))
    modeling.migrate(instance, new, user("owner"))
    db.session.flush()
    rows = db.session.scalars(select(DueTimer.element_id).where(
        DueTimer.instance_id == instance.id, DueTimer.fired.is_(False))).all()
    assert rows == []  # waiting at 检测并记录, the incident waits on no timer


def test_migrate_refused_when_waiting_task_is_gone(db, user):
    instance, _task = _running_incident(user)
    current = latest_version("incident")
    xml = current.bpmn_xml.replace('"detect_and_record"', '"detect_and_record2"').replace(
        ">detect_and_record<", ">detect_and_record2<")
    new, _ = modeling.deploy_upload("incident", xml.encode(), user("owner"))
    with pytest.raises(Conflict) as info:
        modeling.migrate(instance, new, user("owner"))
    assert "detect_and_record" in info.value.message
    assert instance.version_id == current.id
    result = modeling.migrate_instances("incident", current.version, new.version, user("owner"))
    assert instance.business_key in [r["business_key"] for r in result["refused"]]


def test_export_writes_latest_versions(db, tmp_path):
    written = modeling.export(tmp_path / "bpmn", tmp_path / "dmn", tmp_path / "forms")
    assert (tmp_path / "bpmn" / "incident.bpmn").read_text(encoding="utf-8") == latest_version("incident").bpmn_xml
    assert (tmp_path / "dmn" / "incident_priority.dmn").is_file()
    assert (tmp_path / "forms" / "incident" / "close_incident.schema.json").is_file()
    assert written
    assert modeling.export(tmp_path / "bpmn", tmp_path / "dmn", tmp_path / "forms") == []


def test_export_definitions_command(app, db, tmp_path, monkeypatch):
    for key, sub in (("BPMN_DIR", "bpmn"), ("DMN_DIR", "dmn"), ("FORMS_DIR", "forms")):
        monkeypatch.setitem(app.config, key, tmp_path / sub)
    result = app.test_cli_runner().invoke(args=["export-definitions"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "bpmn" / "incident.bpmn").is_file()
    assert "file(s) written" in result.output


def test_export_round_trips_the_repository(db, tmp_path):
    import shutil
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for sub in ("bpmn", "dmn", "forms"):
        shutil.copytree(root / sub, tmp_path / sub)
    assert modeling.export(tmp_path / "bpmn", tmp_path / "dmn", tmp_path / "forms") == []


def test_migrate_reoffers_a_task_whose_lane_changed(db, user):
    instance, task = _running_incident(user)
    assert task.candidate_group == "service_desk"
    xml = latest_version("incident").bpmn_xml
    ref = "<bpmn:flowNodeRef>detect_and_record</bpmn:flowNodeRef>"
    assert ref in xml
    xml = xml.replace(ref, "", 1)
    xml = re.sub(r'(<bpmn:lane id="incident_lead"[^>]*>)', r"\g<1>" + ref, xml, count=1)
    new, _ = modeling.deploy_upload("incident", xml.encode(), user("owner"))
    modeling.migrate(instance, new, user("owner"))
    assert (task.lane_id, task.candidate_group) == ("incident_lead", "incident_lead")
    instances.complete_task(task.id, user("incident_lead"), record())
    assert [t.spec_id for t in instance_tasks(instance)] == ["classify_and_first_support"]


def test_migrate_when_elements_after_the_waiting_task_were_renamed(db, user):
    instance, task = _running_incident(user)
    xml = latest_version("incident").bpmn_xml
    renamed = xml.replace('"mark_recorded"', '"mark_recorded_v2"').replace(">mark_recorded<", ">mark_recorded_v2<")
    assert renamed != xml
    new, _ = modeling.deploy_upload("incident", renamed.encode(), user("owner"))
    modeling.migrate(instance, new, user("owner"))
    instances.complete_task(task.id, user("desk"), record())
    assert [t.spec_id for t in instance_tasks(instance)] == ["classify_and_first_support"]
    done = db.session.scalars(select(Event.spec_id).where(Event.instance_id == instance.id,
                                                          Event.type == "element_completed")).all()
    assert "mark_recorded_v2" in done and "mark_recorded" not in done


def test_migrate_refuses_same_version_and_other_process(db, user, english):
    instance, _task = _running_incident(user)
    with pytest.raises(Conflict, match="already runs"):
        modeling.migrate(instance, instance.version, user("owner"))
    with pytest.raises(Conflict, match="another process"):
        modeling.migrate(instance, latest_version("problem"), user("owner"))
    with pytest.raises(Forbidden):
        modeling.migrate(instance, instance.version, user("auditor"))
