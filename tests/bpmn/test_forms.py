"""Every form in forms/ keeps the form conventions (docs/bpmn-conventions.md), whichever process owns it."""
from __future__ import annotations

import jsonschema
import pytest

from app.engine.definitions import read_bpmn
from app.engine.xml import parse_xml
from tests.bpmn.conftest import ROOT, load
from tests.bpmn.driver import form_schema, path_form_errors

FORMS = sorted((ROOT / "forms").glob("*/*.schema.json"))


@pytest.mark.parametrize("path", FORMS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_form_conventions(path):
    schema = form_schema(path.parent.name, path.name)
    jsonschema.Draft202012Validator.check_schema(schema)
    props = schema["properties"]
    assert schema["type"] == "object" and schema.get("title")
    assert schema["additionalProperties"] is False
    assert sorted(schema["x-order"]) == sorted(props)
    assert set(schema.get("required", [])) <= set(props)
    assert all(p.get("title") for p in props.values())


def test_path_form_errors_catches_bad_data():
    steps = [("detect_and_record", {"impact": "catastrophic"}), ("message", "problem_closed", {})]
    errors = path_form_errors("incident", {"channel": "phone"}, steps)
    assert any(e.startswith("start:") for e in errors)
    assert any(e.startswith("detect_and_record:") and "catastrophic" in e for e in errors)
    posted_read_only = [("record_request", {"desk_tier": "expert"})]
    assert any("read-only" in e for e in path_form_errors("service_desk", {}, posted_read_only, check_start=False))


PROCESSES = sorted(p.stem for p in (ROOT / "bpmn").glob("*.bpmn"))


@pytest.mark.parametrize("process_id", PROCESSES)
def test_each_step_names_its_own_form(process_id):
    """Every user task names forms/<process>/<task id>.schema.json, titled with the step's Chinese name; the
    start form is titled with its start event's name; the folder holds exactly these forms; a form lists its
    fields in order and requires no read-only field the user cannot post and the system does not fill."""
    compiled = load(process_id)
    own = {t: m for t, m in compiled.user_tasks.items() if compiled.elements.get(t, {}).get("process") == process_id}
    files = {f"{task_id}.schema.json" for task_id in own}
    for task_id, meta in own.items():
        assert meta.properties["formJsonSchemaFilename"] == f"{task_id}.schema.json", task_id
        assert form_schema(process_id, f"{task_id}.schema.json")["title"] == compiled.elements[task_id]["name"]
    info = read_bpmn(parse_xml((ROOT / "bpmn" / f"{process_id}.bpmn").read_bytes()))
    for event, file in info.form_files.items():
        element = info.elements[event]
        if element["type"] == "startEvent" and element["process"] == process_id:
            assert form_schema(process_id, file)["title"] == element["name"], event
            files.add(file)
    assert files == {p.name for p in (ROOT / "forms" / process_id).glob("*.json")}
    for name in sorted(files):
        schema = form_schema(process_id, name)
        props = schema["properties"]
        assert schema["x-order"] == list(props), name
        # A read-only field is shown, not posted: it may be required only when the system fills it (x-source).
        shown_only = {k for k, v in props.items() if v.get("readOnly") and not v.get("x-source")}
        assert not shown_only & set(schema.get("required", [])), name
