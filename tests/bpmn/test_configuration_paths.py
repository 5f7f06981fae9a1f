"""Every path of configuration.bpmn (spec 6.1.5, Table 6) through the engine alone; every sequence flow is taken."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from app.engine.definitions import read_bpmn
from app.engine.xml import parse_xml
from tests.bpmn.conftest import Coverage, all_flows, load
from tests.bpmn.driver import drive, flows_taken, form_schema, form_validator, path_form_errors

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "configuration"


# -- form data for each step -------------------------------------------------------------------

def start(purpose: str) -> dict[str, Any]:
    return {"purpose": purpose, "requirements": "新建监测数据中心机房，纳入配置管理"}


def plan() -> dict[str, Any]:
    return {
        "policy_scope": "覆盖省级监测数据中心的基础设施和应用软件",
        "roles": "组长审批规划与审计；配置管理员登记和维护CI",
        "libraries": "CMDB 位于运维平台；DSL、DHL 位于机房 A，安全级别三级",
        "ci_classes": ["服务器", "网络设备", "应用软件"],
        "coding_rule": "类别缩写-机房-序号，如 SRV-A-001",
        "access_control": "仅配置管理员可写 CMDB；版本与发布受变更控制",
    }


def identify() -> dict[str, Any]:
    return {
        "ci_scope": "机房 A 的服务器",
        "ci_class": "服务器",
        "ci_ids": ["SRV-A-001", "SRV-A-002"],
        "ci_attributes": "序列号、型号、采购日期",
        "relations": "SRV-A-001 承载监测数据库；SRV-A-002 为其备机",
    }


def control(approved: bool, change_key: str = "CHG-20261125-0001") -> dict[str, Any]:
    data = {"change_approved": approved, "ci_ids": ["SRV-A-001"], "lifecycle_action": "change",
            "change_record": "更换 SRV-A-001 内存条"}
    if approved:
        data["change_key"] = change_key
    return data


def audit(discrepancies: bool = False, adjust_plan: bool = False) -> dict[str, Any]:
    data = {"audit_trigger": "after_change", "audited_cis": ["SRV-A-001"],
            "audit_report": "核对 CMDB 与实际配置", "discrepancies_found": discrepancies,
            "plan_adjustment_needed": adjust_plan}
    if discrepancies:
        data["discrepancy_cis"] = ["SRV-A-001"]
    if adjust_plan:
        data["optimisation"] = "增加备机的编码规则"
    return data


def report() -> dict[str, Any]:
    return {"report_period": "2026-11", "audiences": ["leadership", "configuration_review"],
            "report": "本月登记 CI 2 个，变更 1 次，发现未授权变更 1 次"}


# Each path: the start data and the (task spec id, form data) steps in order.
PATHS: dict[str, tuple[dict, list[tuple]]] = {
    # Full cycle from planning: an authorised change, a discrepancy back to control, an unauthorised change,
    # a plan adjustment back to planning, then a clean audit and the report.
    "plan_all_loops": (start("plan"), [
        ("configuration_planning", plan()),
        ("ci_identification", identify()),
        ("ci_control", control(True)),
        ("configuration_audit", audit(discrepancies=True)),
        ("ci_control", control(False)),
        ("configuration_audit", audit(adjust_plan=True)),
        ("configuration_planning", plan()),
        ("ci_identification", identify()),
        ("ci_control", control(True, "CHG-20261125-0002")),
        ("configuration_audit", audit()),
        ("configuration_report", report()),
    ]),
    # A CI change under an RFC from change management: control, audit after the change, report.
    "ci_change": (start("change"), [
        ("ci_control", control(True)),
        ("configuration_audit", audit()),
        ("configuration_report", report()),
    ]),
    # The monthly scheduled audit (R/P1M): the scheduler starts without any data.
    "scheduled_audit": ({}, [
        ("configuration_audit", {**audit(), "audit_trigger": "periodic"}),
        ("configuration_report", report()),
    ]),
    "audit_by_hand": (start("audit"), [
        ("configuration_audit", {**audit(), "audit_trigger": "before_change"}),
        ("configuration_report", report()),
    ]),
    "report_only": (start("report"), [
        ("configuration_report", report()),
    ]),
}
SCHEDULED = {"scheduled_audit"}  # started by the scheduler, not through the start form


@pytest.fixture(scope="module")
def configuration_process():
    return load(PROCESS)


def _schema(name: str) -> dict:
    return form_schema(PROCESS, name)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return form_validator(PROCESS, name)


# -- paths and coverage ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(configuration_process, name):
    start_data, steps = PATHS[name]
    run, events, thrown = drive(configuration_process, start_data, steps)
    assert run.completed
    assert run.ready_user_tasks() == []
    assert run.waiting_messages() == []
    assert thrown == []
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done[-2:] == ["configuration_report", "configuration_reported"]
    Coverage.add(PROCESS, flows_taken(events))


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_validates_against_its_form(name):
    """The data of every step is what the application would accept."""
    start_data, steps = PATHS[name]
    assert not path_form_errors(PROCESS, start_data, steps, check_start=name not in SCHEDULED)



def test_forms_refuse_incomplete_answers():
    approved_without_rfc = {k: v for k, v in control(True).items() if k != "change_key"}
    assert list(_validator("ci_control.schema.json").iter_errors(approved_without_rfc)), \
        "an approved change names its RFC"
    assert list(_validator("ci_control.schema.json").iter_errors({**control(True), "change_key": ""}))
    assert list(_validator("configuration_audit.schema.json").iter_errors(
        {k: v for k, v in audit(discrepancies=True).items() if k != "discrepancy_cis"})), \
        "a discrepancy names the CIs"
    assert list(_validator("configuration_audit.schema.json").iter_errors(
        {k: v for k, v in audit(adjust_plan=True).items() if k != "optimisation"})), \
        "a plan adjustment says what to optimise"
    assert list(_validator("ci_identification.schema.json").iter_errors(
        {**identify(), "ci_ids": ["SRV-A-001", "SRV-A-001"]})), "CI identifiers are unique"


# -- behaviour along the paths -------------------------------------------------------------------

def test_only_authorised_changes_are_recorded(configuration_process):
    start_data, steps = PATHS["plan_all_loops"]
    run, events, _ = drive(configuration_process, start_data, steps[:3])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "configuration_audit"
    assert task.data["status"] == "change_recorded" and task.data["last_change_key"] == "CHG-20261125-0001"
    assert task.data["unauthorised_change"] is False
    # The discrepancy sends the CI back to control; without an approved change it is flagged, not recorded.
    run, events, _ = drive(configuration_process, start_data, steps[:5])
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done[-4:] == ["ci_control", "control_gateway", "record_unauthorised_change", "audit_merge"]
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "configuration_audit"
    assert task.data["unauthorised_change"] is True and task.data["status"] == "unauthorised_change"


def test_audit_results_loop_back(configuration_process):
    start_data, steps = PATHS["plan_all_loops"]
    run, _, _ = drive(configuration_process, start_data, steps[:4])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["ci_control"]
    run, _, _ = drive(configuration_process, start_data, steps[:6])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["configuration_planning"]


@pytest.mark.parametrize("purpose,first", [("plan", "configuration_planning"), ("change", "ci_control"),
                                           ("audit", "configuration_audit"), ("report", "configuration_report")])
def test_purpose_selects_the_entry_step(configuration_process, purpose, first):
    run, _, _ = drive(configuration_process, start(purpose), [])
    assert [t.spec_id for t in run.ready_user_tasks()] == [first]


def test_scheduled_start_without_data_audits(configuration_process):
    run, _, _ = drive(configuration_process, {}, [])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "configuration_audit" and task.data["purpose"] == "audit"


def test_start_event_carries_the_monthly_schedule(configuration_process):
    info = read_bpmn(parse_xml((ROOT / "bpmn" / f"{PROCESS}.bpmn").read_bytes()))
    starts = [e for e, el in info.elements.items() if el["type"] == "startEvent"]
    assert starts == ["configuration_started"]
    assert info.properties["configuration_started"]["schedule"] == "R/P1M"
    assert configuration_process.start_form.endswith("start.schema.json")


def test_lanes(configuration_process):
    lanes = {spec_id: meta.lane_id for spec_id, meta in configuration_process.user_tasks.items()}
    assert lanes == {
        "configuration_planning": "configuration_lead", "ci_identification": "configuration_operator",
        "ci_control": "configuration_operator", "configuration_audit": "configuration_lead",
        "configuration_report": "configuration_operator",
    }
    assert configuration_process.elements["record_unauthorised_change"]["lane"] == "configuration_lead"


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS)
    taken = Coverage.taken.get(PROCESS, set())
    missing = expected - taken
    print(f"\n{PROCESS}.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
