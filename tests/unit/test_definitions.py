"""Deploy-time validation: every broken diagram is refused with the element id, nothing half-deployed."""
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.engine.definitions import DefinitionError, compile_process
from app.models import ProcessVersion
from app.services.definitions import Bundle, bundle_from_directories, deploy_bundle, latest_version
from app.services.errors import DefinitionRejected
from tests.support import start_data

ROOT = Path(__file__).resolve().parents[2]
GROUPS = {"service_desk", "support_line_1", "support_line_2", "support_line_3", "incident_lead"}


def _bundle() -> Bundle:
    (bundle,) = bundle_from_directories(ROOT / "bpmn" / "incident.bpmn", ROOT / "dmn", ROOT / "forms")
    return bundle


def _compile(bpmn: bytes, bundle: Bundle | None = None, groups=GROUPS):
    bundle = bundle or _bundle()
    return compile_process("incident", bpmn, bundle.dmn_files(), bundle.form_files(), known_groups=groups)


def _issues(bpmn: bytes, **kw) -> list:
    with pytest.raises(DefinitionError) as info:
        _compile(bpmn, **kw)
    return info.value.issues


def test_repository_incident_compiles():
    compiled = _compile(_bundle().bpmn)
    assert compiled.name == "事件管理"
    assert compiled.start_form == "incident/start.schema.json"
    assert {"detect_and_record", "classify_and_first_support", "investigate_and_diagnose",
            "resolve_and_recover", "confirm_resolution", "close_incident"} <= set(compiled.user_tasks)
    assert compiled.user_tasks["investigate_and_diagnose"].group_variable == "assigned_group"
    assert set(compiled.decisions) == {"incident_priority", "incident_classification"}


def test_lane_that_maps_to_no_group_is_refused():
    issues = _issues(_bundle().bpmn, groups=GROUPS - {"incident_lead"})
    assert any(i.element_id == "report_to_leads" and "incident_lead" in i.message for i in issues)


def test_missing_form_is_refused():
    bundle = _bundle()
    forms = bundle.form_files()
    forms.pop("incident/close_incident.schema.json")
    with pytest.raises(DefinitionError) as info:
        compile_process("incident", bundle.bpmn, bundle.dmn_files(), forms, known_groups=GROUPS)
    assert any(i.element_id == "close_incident" and "form" in i.message for i in info.value.issues)


def test_invalid_json_schema_is_refused():
    bundle = _bundle()
    forms = bundle.form_files()
    forms["incident/close_incident.schema.json"] = b'{"type": "object", "properties": {"a": {"type": "nonsense"}}}'
    with pytest.raises(DefinitionError) as info:
        compile_process("incident", bundle.bpmn, bundle.dmn_files(), forms, known_groups=GROUPS)
    assert any("close_incident.schema.json" in i.message for i in info.value.issues)


def test_unknown_decision_is_refused():
    bpmn = _bundle().bpmn.replace(b">incident_priority<", b">no_such_decision<")
    issues = _issues(bpmn)
    assert any("no_such_decision" in i.message for i in issues)


def test_condition_refused_by_sandbox():
    bpmn = _bundle().bpmn.replace(b"in_scope == False", b"__import__('os') == False", 1)
    assert bpmn != _bundle().bpmn
    issues = _issues(bpmn)
    assert any("condition" in i.message and i.element_id for i in issues)


def test_script_refused_by_sandbox():
    bpmn = _bundle().bpmn.replace(b"support_line = 1", b"import os\nsupport_line = 1", 1)
    assert bpmn != _bundle().bpmn
    issues = _issues(bpmn)
    assert any(i.element_id == "init_support" and "import" in i.message for i in issues)


def test_dangling_flow_is_refused():
    bpmn = _bundle().bpmn.replace(b'targetRef="close_incident"', b'targetRef="nowhere"', 1)
    issues = _issues(bpmn)
    assert issues


def test_unknown_process_id():
    with pytest.raises(DefinitionError, match="no process with id"):
        compile_process("other", _bundle().bpmn)


def test_deploy_is_idempotent_and_refuses_broken(db):
    before = db.session.scalar(select(func.count()).select_from(ProcessVersion))
    version, created = deploy_bundle(_bundle(), None)
    assert not created and version.version == latest_version("incident").version
    broken = _bundle()
    broken.bpmn = broken.bpmn.replace(b">incident_priority<", b">missing<")
    with pytest.raises(DefinitionRejected) as info:
        deploy_bundle(broken, None)
    assert info.value.status == 422 and info.value.issues
    assert db.session.scalar(select(func.count()).select_from(ProcessVersion)) == before


def test_changed_file_makes_new_version_and_old_instances_keep_theirs(db, user):
    from app.services import incident

    desk = user("desk")
    old = incident.record_incident(desk, start_data(symptoms="旧版本实例"))
    changed = _bundle()
    changed.bpmn = changed.bpmn.replace("事件检测和记录".encode(), "事件检测与记录".encode(), 1)
    version, created = deploy_bundle(changed, desk, "rename a step")
    assert created and version.version == old.version.version + 1
    assert old.version_id != version.id
    new = incident.record_incident(desk, start_data(symptoms="新版本实例"))
    assert new.version_id == version.id


def test_names_in_other_languages_are_read_from_name_properties():
    compiled = _compile(_bundle().bpmn)
    english = compiled.names["en"]
    assert english["incident"] == "Incident management"  # the process, from its own properties
    assert english["determine_priority"] == "Determine the incident priority"  # a step without a form
    assert english["in_scope_gateway"] == "In scope?"
    assert set(compiled.names) == {"en"}


def test_documentation_in_other_languages_is_read_from_documentation_properties():
    bpmn = _bundle().bpmn.replace(b'name="name.en" value="In scope?" />',
                                  b'name="name.en" value="In scope?" /><spiffworkflow:property '
                                  b'name="documentation.en" value="  Is it ours to handle?  " />', 1)
    compiled = _compile(bpmn)
    assert compiled.docs["en"]["in_scope_gateway"] == "Is it ours to handle?"
    assert "in_scope_gateway" not in compiled.names.get("documentation", {})


@pytest.mark.parametrize(("prop", "message"), [
    ('name="name.en" value="  "', "is empty"),
    ('name="name.EN!" value="Triage"', "not a language code"),
    ('name="documentation.en" value=" "', "give the documentation in that language"),
    ('name="documentation.english" value="Is it ours?"', "not a language code"),
])
def test_malformed_name_properties_are_refused(prop, message):
    bpmn = _bundle().bpmn.replace(b'name="name.en" value="In scope?"', prop.encode(), 1)
    assert bpmn != _bundle().bpmn
    issues = _issues(bpmn)
    assert any(i.element_id == "in_scope_gateway" and message in i.message for i in issues), issues


def test_a_diagram_without_name_properties_still_compiles():
    bpmn = re.sub(rb'<spiffworkflow:property name="name\.en" value="[^"]*" />', b"", _bundle().bpmn)
    assert b"name.en" not in bpmn
    assert _compile(bpmn).names == {}
