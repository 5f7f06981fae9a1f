"""Every path of security.bpmn (spec 6.1.9, Table 10) through the engine alone; every sequence flow is taken.

Also the risk matrix of dmn/security_risk_level.dmn, every combination of likelihood and impact.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from app.engine.definitions import evaluate_decision, load_decision, read_bpmn
from app.engine.xml import parse_xml
from tests.bpmn.conftest import Coverage, all_flows, load
from tests.bpmn.driver import drive, flows_taken, form_validator, path_form_errors

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "security"
RISK_LEVEL = load_decision((ROOT / "dmn" / "security_risk_level.dmn").read_bytes(), "security_risk_level.dmn")


# -- form data for each step -------------------------------------------------------------------

def start(purpose: str) -> dict[str, Any]:
    data = {"purpose": purpose}
    if purpose == "security_incident":
        data["note"] = "11 月 24 日发现监测平台存在异常登录"
    return data


def establish() -> dict[str, Any]:
    return {
        "organisation_profile": "省级环境监测业务；运维组织 20 人；两处机房",
        "manual_version": "1.0",
        "security_policy": "等级保护三级；最小权限",
        "risk_method": "可能性与影响程度各 1–5 级，查风险矩阵；高、严重风险接受须组长签认",
        "responsibilities": "组长审批；管理员评估和运行",
    }


def assess(likelihood: int, impact: int) -> dict[str, Any]:
    return {
        "asset": "监测数据库",
        "asset_cis": ["SRV-DB-01"],
        "threat": "SQL 注入",
        "vulnerability": "旧版查询接口未做参数化",
        "likelihood": likelihood,
        "impact": impact,
    }


def treat(treatment: str) -> dict[str, Any]:
    data = {
        "risk_treatment": treatment,
        "treatment_plan": "维持现状并加强审计" if treatment == "accept" else "改造接口并部署 WAF",
        "risk_assessment_report": "识别风险 1 项",
    }
    if treatment == "accept":
        data["acceptance_rationale"] = "接口下季度下线，残余风险可控"
    return data


def approve(approved: bool) -> dict[str, Any]:
    data: dict[str, Any] = {"risk_acceptance_approved": approved}
    if not approved:
        data["approval_comment"] = "严重风险不得接受，须降低"
    return data


def operate(incidents: int, review: bool) -> dict[str, Any]:
    data: dict[str, Any] = {
        "controls_implemented": "接口参数化改造；WAF 上线",
        "security_incident_count": incidents,
        "security_incident_report": "本期无内部安全事件" if incidents == 0 else "异常登录 1 起，已封禁来源",
        "review_requested": review,
    }
    if incidents:
        data.update({"security_incident_types": ["unauthorised_access"], "incidents_investigated": True})
    return data


def review() -> dict[str, Any]:
    return {
        "reviewed_at": "2026-11-25T14:00:00+08:00",
        "review_findings": "WAF 规则未覆盖新接口",
        "risk_trend": "rising",
        "revised_risk_report": "新增接口风险 1 项",
    }


def improve(reassess: bool) -> dict[str, Any]:
    return {"improvement_actions": "WAF 规则纳入变更检查单", "improvement_verification": "抽查 3 个接口已覆盖",
            "reassess_risks": reassess}


# Each path: the start data and the (task spec id, form data) steps in order.
PATHS: dict[str, tuple[dict, list[tuple]]] = {
    # Steps 1 -> 2 (critical risk proposed for acceptance, the lead refuses, mitigate instead) -> 3 (an
    # incident, review requested) -> 4 -> 5 (risks changed) -> 2 (low risk accepted without sign-off) -> 3.
    "build_all_loops": (start("build_isms"), [
        ("establish_isms", establish()),
        ("assess_risk", assess(5, 5)),
        ("plan_risk_treatment", treat("accept")),
        ("approve_risk_acceptance", approve(False)),
        ("plan_risk_treatment", treat("mitigate")),
        ("operate_isms", operate(1, review=True)),
        ("review_isms", review()),
        ("improve_isms", improve(reassess=True)),
        ("assess_risk", assess(1, 2)),
        ("plan_risk_treatment", treat("accept")),
        ("operate_isms", operate(0, review=False)),
    ]),
    # A high risk accepted with the lead's sign-off.
    "risk_accepted_with_sign_off": (start("risk_assessment"), [
        ("assess_risk", assess(4, 4)),
        ("plan_risk_treatment", treat("accept")),
        ("approve_risk_acceptance", approve(True)),
        ("operate_isms", operate(0, review=False)),
    ]),
    "security_incident": (start("security_incident"), [
        ("operate_isms", operate(1, review=False)),
    ]),
    # The yearly scheduled review (R/P1Y): no start data.
    "scheduled_review": ({}, [
        ("review_isms", review()),
        ("improve_isms", improve(reassess=False)),
    ]),
}
SCHEDULED = {"scheduled_review"}  # started by the scheduler, not through the start form
ENDS = {"build_all_loops": "isms_operating", "risk_accepted_with_sign_off": "isms_operating",
        "security_incident": "isms_operating", "scheduled_review": "isms_improved"}


@pytest.fixture(scope="module")
def security_process():
    return load(PROCESS)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return form_validator(PROCESS, name)


# -- paths and coverage ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(security_process, name):
    start_data, steps = PATHS[name]
    run, events, thrown = drive(security_process, start_data, steps)
    assert run.completed
    assert run.ready_user_tasks() == [] and run.waiting_messages() == []
    assert thrown == []  # security incidents are recorded here, nothing is handed to other processes
    assert [e.spec_id for e in events if e.kind == "task_ready"] == [spec_id for spec_id, _ in steps]
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done[-1] == ENDS[name]
    Coverage.add(PROCESS, flows_taken(events))


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_validates_against_its_form(name):
    """The data of every step is what the application would accept."""
    start_data, steps = PATHS[name]
    assert not path_form_errors(PROCESS, start_data, steps, check_start=name not in SCHEDULED)


def test_scheduled_start_enters_the_yearly_review(security_process):
    run, _, _ = drive(security_process, {}, [])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["review_isms"]
    assert run.data()["purpose"] == "annual_review"


@pytest.mark.parametrize(("likelihood", "impact", "level", "sign_off"), [
    (1, 1, "low", False), (3, 3, "medium", False), (2, 5, "high", True), (5, 5, "critical", True),
])
def test_accepting_high_risks_needs_the_leads_sign_off(security_process, likelihood, impact, level, sign_off):
    run, events, _ = drive(security_process, start("risk_assessment"), [
        ("assess_risk", assess(likelihood, impact)),
        ("plan_risk_treatment", treat("accept")),
    ])
    (decision,) = [e for e in events if e.kind == "decision_evaluated"]
    assert decision.detail["decision_id"] == "security_risk_level"
    assert decision.detail["outputs"] == {"risk_level": level}
    (task,) = run.ready_user_tasks()
    assert task.spec_id == ("approve_risk_acceptance" if sign_off else "operate_isms")
    assert task.data["risk_level"] == level


@pytest.mark.parametrize("treatment", ["mitigate", "transfer", "avoid"])
def test_treating_a_critical_risk_needs_no_sign_off(security_process, treatment):
    run, _, _ = drive(security_process, start("risk_assessment"), [
        ("assess_risk", assess(5, 4)),
        ("plan_risk_treatment", treat(treatment)),
    ])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["operate_isms"]


def test_refused_acceptance_returns_to_the_treatment_plan(security_process):
    run, _, _ = drive(security_process, start("risk_assessment"), [
        ("assess_risk", assess(5, 5)),
        ("plan_risk_treatment", treat("accept")),
        ("approve_risk_acceptance", approve(False)),
    ])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "plan_risk_treatment"
    assert task.data["approval_comment"] == "严重风险不得接受，须降低"


# -- the risk matrix ---------------------------------------------------------------------------

def _expected_level(likelihood: int, impact: int) -> str:
    total = likelihood + impact
    return "low" if total <= 4 else "medium" if total <= 6 else "high" if total <= 8 else "critical"


@pytest.mark.parametrize("likelihood", range(1, 6))
@pytest.mark.parametrize("impact", range(1, 6))
def test_risk_matrix_every_combination_hits_exactly_one_rule(likelihood, impact):
    result = evaluate_decision(RISK_LEVEL, {"likelihood": likelihood, "impact": impact})
    assert len(result.matched) == 1
    assert result.outputs == {"risk_level": _expected_level(likelihood, impact)}


def test_risk_matrix_rules_all_used_and_unique():
    hits: dict[str, int] = {}
    for likelihood in range(1, 6):
        for impact in range(1, 6):
            (rule,) = evaluate_decision(RISK_LEVEL, {"likelihood": likelihood, "impact": impact}).matched
            hits[rule.rule_id] = hits.get(rule.rule_id, 0) + 1
    assert RISK_LEVEL.decision_table.hit_policy == "UNIQUE"
    assert {r.id for r in RISK_LEVEL.decision_table.rules} == set(hits)
    assert sum(hits.values()) == 25


def test_risk_matrix_out_of_range_matches_nothing():
    result = evaluate_decision(RISK_LEVEL, {"likelihood": 6, "impact": 1})
    assert result.matched == [] and result.outputs == {"risk_level": None}


# -- lanes ---------------------------------------------------------------------------------------

def test_lanes_are_the_spec_roles(security_process):
    lanes = {meta.spec_id: meta.lane_id for meta in security_process.user_tasks.values()}
    assert lanes == {
        "establish_isms": "security_lead",             # 表10 步骤1 信息安全管理组长
        "assess_risk": "security_lead",                # 步骤2 “信息安全管理组长……并识别风险”
        "plan_risk_treatment": "security_operator",    # 形成《风险评估报告和处置计划》
        "approve_risk_acceptance": "security_lead",    # 风险被接受的准则由组长签认
        "operate_isms": "security_operator",           # 步骤3 组长、操作员：操作员实施措施和记录事件
        "review_isms": "security_lead",                # 步骤4 组长每年组织一次安全评审
        "improve_isms": "security_lead",               # 步骤5 信息安全管理组长
    }
    info = read_bpmn(parse_xml((ROOT / "bpmn" / f"{PROCESS}.bpmn").read_bytes()))
    assert info.properties["security_started"]["schedule"] == "R/P1Y"
    assert info.decision_refs == {"determine_risk_level": "security_risk_level"}


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS)
    taken = Coverage.taken.get(PROCESS, set())
    missing = expected - taken
    print(f"\n{PROCESS}.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
