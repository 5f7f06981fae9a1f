"""Every path of service_level.bpmn (spec 6.1.7, Table 8) through the engine alone; every flow is taken."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from app.engine.definitions import read_bpmn
from app.engine.xml import parse_xml
from tests.bpmn.conftest import Coverage, all_flows, load
from tests.bpmn.driver import drive, flows_taken, path_form_errors

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "service_level"
BUSINESS_KEY = "SER-TEST-0001"  # what the driver puts in the context


# -- form data for each step -------------------------------------------------------------------

def start(purpose: str) -> dict[str, Any]:
    return {"purpose": purpose, "note": "新建污染源监控系统运维服务"}


def planning() -> dict[str, Any]:
    return {"service_requirements": "监控系统 7×24 可用", "objectives_scope": "覆盖省级污染源监控系统",
            "responsibilities": "组长负责协议；管理员负责监控与报告", "catalogue_sla_structure": "按服务分级的SLA",
            "experience_indicators": ["用户满意度"]}


def catalogue() -> dict[str, Any]:
    return {"requirements_document": "业务处室需 7×24 数据上报", "services": ["数据上报服务", "终端支持服务"]}


def agreements() -> dict[str, Any]:
    return {"agreement_types": ["sla", "ola", "uc"], "customer": "省环境监测中心", "provider": "省环境信息中心",
            "ola_parties": ["二线支持组"], "uc_suppliers": ["某网络运营商"], "availability_target": 99.5,
            "response_minutes": 30, "resolution_hours": 8, "sla_published": True}


def monitoring(met: bool) -> dict[str, Any]:
    data = {"report_period": "2026-11", "availability_achieved": 99.8 if met else 98.7, "targets_met": met,
            "service_level_report": "月度服务等级报告", "report_submitted": True}
    if not met:
        data["breaches"] = ["可用性低于 99.5%"]
    return data


def review() -> dict[str, Any]:
    return {"review_date": "2026-12-20", "participants": ["监测中心王处长"], "review_report": "半年服务评审报告"}


def improvement(needs_problem: bool) -> dict[str, Any]:
    data = {"improvement_plan": "增加数据库备机", "needs_problem": needs_problem}
    if needs_problem:
        data.update({"problem_summary": "数据库每月宕机影响可用性", "problem_symptoms": "可用性连续两月未达标",
                     "problem_impact": "high", "problem_urgency": "medium"})
    return data


def maintenance(continue_monitoring: bool) -> dict[str, Any]:
    return {"maintained_agreements": ["sla"], "maintenance_note": "更新SLA可用性条款",
            "continue_monitoring": continue_monitoring}


PATHS: dict[str, tuple[dict, list[tuple]]] = {
    # Planning to agreements; a breached month, review, improvement with problem management, next period
    # met, review, improvement alone, maintenance ends the cycle.
    "plan_full_cycle": (start("plan"), [
        ("service_planning", planning()),
        ("service_catalogue", catalogue()),
        ("sign_agreements", agreements()),
        ("service_monitoring", monitoring(False)),
        ("service_review", review()),
        ("service_improvement", improvement(True)),
        ("service_maintenance", maintenance(True)),
        ("service_monitoring", monitoring(True)),
        ("service_review", review()),
        ("service_improvement", improvement(False)),
        ("service_maintenance", maintenance(False)),
    ]),
    # The half-yearly review (R/P6M): the scheduler starts without any data.
    "scheduled_review": ({}, [
        ("service_review", review()),
        ("service_improvement", improvement(False)),
        ("service_maintenance", maintenance(False)),
    ]),
    "review_by_hand": (start("review"), [
        ("service_review", review()),
        ("service_improvement", improvement(True)),
        ("service_maintenance", maintenance(False)),
    ]),
}
SCHEDULED = {"scheduled_review"}  # started by the scheduler, not through the start form


@pytest.fixture(scope="module")
def service_level_process():
    return load(PROCESS)


def _schema(name: str, process: str = PROCESS) -> dict:
    return json.loads((ROOT / "forms" / process / name).read_text(encoding="utf-8"))


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_schema(name), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# -- paths and coverage ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(service_level_process, name):
    start_data, steps = PATHS[name]
    run, events, _ = drive(service_level_process, start_data, steps)
    assert run.completed
    assert run.ready_user_tasks() == []
    assert run.waiting_messages() == []
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done[-1] == "service_level_ended"
    Coverage.add(PROCESS, flows_taken(events))


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_validates_against_its_form(name):
    """The data of every step is what the application would accept."""
    start_data, steps = PATHS[name]
    assert not path_form_errors(PROCESS, start_data, steps, check_start=name not in SCHEDULED)



def test_forms_refuse_incomplete_answers():
    assert list(_validator("sign_agreements.schema.json").iter_errors(
        {**agreements(), "agreement_types": ["ola"]})), "an SLA is always signed"
    assert list(_validator("sign_agreements.schema.json").iter_errors(
        {k: v for k, v in agreements().items() if k != "uc_suppliers"})), "a UC names its suppliers"
    assert list(_validator("service_monitoring.schema.json").iter_errors(
        {k: v for k, v in monitoring(False).items() if k != "breaches"})), "a breach is named"
    assert list(_validator("service_improvement.schema.json").iter_errors(
        {"improvement_plan": "x", "needs_problem": True})), "a problem needs its description"


# -- behaviour along the paths -------------------------------------------------------------------

def test_improvement_starts_problem_management_without_waiting(service_level_process):
    start_data, steps = PATHS["plan_full_cycle"]
    run, _, thrown = drive(service_level_process, start_data, steps[:6])
    assert thrown == [("problem_requested", {
        "origin_key": BUSINESS_KEY, "origin_process": PROCESS, "summary": "数据库每月宕机影响可用性",
        "symptoms": "可用性连续两月未达标", "category": "other", "impact": "high", "urgency": "medium",
        "affected_cis": [],
    })]
    assert [t.spec_id for t in run.ready_user_tasks()] == ["service_maintenance"]
    assert run.waiting_messages() == []


def test_problem_payload_fits_the_problem_start_form(service_level_process):
    path = ROOT / "forms" / "problem" / "start.schema.json"
    assert path.is_file(), "the problem process's start form"
    _, _, thrown = drive(service_level_process, *PATHS["plan_full_cycle"])
    validator = jsonschema.Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))
    payloads = [payload for name, payload in thrown if name == "problem_requested"]
    assert len(payloads) == 1
    assert not [e.message for e in validator.iter_errors(payloads[0])]


def test_breach_is_recorded_and_monitoring_loops(service_level_process):
    start_data, steps = PATHS["plan_full_cycle"]
    run, _, _ = drive(service_level_process, start_data, steps[:4])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "service_review"
    assert task.data["sla_breached"] is True and task.data["breach_count"] == 1
    run, _, _ = drive(service_level_process, start_data, steps[:7])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["service_monitoring"]
    run, _, _ = drive(service_level_process, start_data, steps[:8])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "service_review" and task.data["breach_count"] == 1


def test_scheduled_start_without_data_reviews(service_level_process):
    run, _, _ = drive(service_level_process, {}, [])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "service_review" and task.data["purpose"] == "review"


def test_start_event_carries_the_half_yearly_schedule(service_level_process):
    info = read_bpmn(parse_xml((ROOT / "bpmn" / f"{PROCESS}.bpmn").read_bytes()))
    starts = [e for e, el in info.elements.items() if el["type"] == "startEvent"]
    assert starts == ["service_level_started"]
    assert info.properties["service_level_started"]["schedule"] == "R/P6M"
    assert service_level_process.start_form.endswith("start.schema.json")


def test_lanes(service_level_process):
    lanes = {spec_id: meta.lane_id for spec_id, meta in service_level_process.user_tasks.items()}
    assert lanes == {
        "service_planning": "service_level_lead", "service_catalogue": "service_level_lead",
        "sign_agreements": "service_level_lead", "service_monitoring": "service_level_operator",
        "service_review": "service_level_lead", "service_improvement": "service_level_lead",
        "service_maintenance": "service_level_operator",
    }


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS)
    taken = Coverage.taken.get(PROCESS, set())
    missing = expected - taken
    print(f"\n{PROCESS}.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
