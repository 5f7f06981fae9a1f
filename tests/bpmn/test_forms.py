"""Every form in forms/ keeps the form conventions (docs/bpmn-conventions.md), whichever process owns it."""
from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest

from tests.bpmn.driver import form_schema, path_form_errors

FORMS = sorted((Path(__file__).resolve().parents[2] / "forms").glob("*/*.schema.json"))


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
