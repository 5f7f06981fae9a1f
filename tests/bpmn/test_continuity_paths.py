"""Every path of continuity.bpmn (spec 6.1.8, Table 9) through the engine alone; every sequence flow is taken."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from app.engine.definitions import read_bpmn
from app.engine.xml import parse_xml
from tests.bpmn.conftest import Coverage, all_flows, load
from tests.bpmn.driver import drive, flows_taken, form_validator, path_form_errors

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "continuity"


# -- form data for each step -------------------------------------------------------------------

def start(purpose: str) -> dict[str, Any]:
    return {"purpose": purpose, "note": "监测数据中心新机房投入运行"}


def analyse() -> dict[str, Any]:
    return {
        "business_impact": "监测数据采集中断将导致超标排放无法及时发现",
        "business_risks": "单机房供电；数据库无异地副本",
        "critical_services": ["污染源在线监测", "环境质量发布"],
        "rto_hours": 4,
        "rpo_hours": 0.5,
        "impact_analysis_report": "在线监测为最重要服务，最长可容忍中断 4 小时",
        "risk_analysis_report": "主要威胁为机房断电和存储故障",
        "preventive_measures": "双路供电；数据库实时复制到备用机房",
    }


def plan(version: str = "1.0") -> dict[str, Any]:
    return {
        "plan_ref": "BCP-MON-01",
        "plan_version": version,
        "trigger_conditions": "在线监测服务中断超过 30 分钟",
        "recovery_objectives": "4 小时内在备用机房恢复在线监测，数据丢失不超过 30 分钟",
        "emergency_procedures": "值班长宣布启动；切换热备数据库；通知用户",
        "data_continuity_measures": ["backup", "replication", "hot_standby"],
    }


def drill(improve: bool) -> dict[str, Any]:
    data = {
        "plan_ref": "BCP-MON-01",
        "plan_version": "1.0",
        "drill_at": "2026-11-20T09:00:00+08:00",
        "drill_scenario": "主机房断电",
        "drill_record": "3 小时 20 分钟完成切换",
        "drill_review_report": "达到恢复目标；通知环节耗时过长",
        "improvement_needed": improve,
    }
    if improve:
        data["improvement_plan"] = "增加短信群发通知"
    return data


def maintain(valid: bool) -> dict[str, Any]:
    data = {
        "plan_ref": "BCP-MON-01",
        "plan_version": "1.1",
        "reviewed_at": "2026-11-25T10:00:00+08:00",
        "plan_still_valid": valid,
        "review_result": "预案仍然及时、有效" if valid else "备用机房已迁移，预案需更新",
    }
    if valid:
        data["maintenance_record"] = "更新值班联系人"
    return data


# Each path: the start data and the (task spec id, form data) steps in order.
PATHS: dict[str, tuple[dict, list[tuple]]] = {
    # Steps 1 -> 2 -> 3, the drill needs improvement (back to 2), drill again, the yearly review finds the
    # plan out of date (back to 2), drill, review: still valid.
    "plan_all_loops": (start("plan"), [
        ("requirements_analysis", analyse()),
        ("draft_contingency_plan", plan("1.0")),
        ("continuity_drill", drill(improve=True)),
        ("draft_contingency_plan", plan("1.1")),
        ("continuity_drill", drill(improve=False)),
        ("maintain_contingency_plan", maintain(valid=False)),
        ("draft_contingency_plan", plan("2.0")),
        ("continuity_drill", drill(improve=False)),
        ("maintain_contingency_plan", maintain(valid=True)),
    ]),
    # The yearly scheduled start (R/P1Y): no start data, the drill then the review.
    "scheduled_drill": ({}, [
        ("continuity_drill", drill(improve=False)),
        ("maintain_contingency_plan", maintain(valid=True)),
    ]),
    "drill_by_hand": (start("drill"), [
        ("continuity_drill", drill(improve=False)),
        ("maintain_contingency_plan", maintain(valid=True)),
    ]),
    "review_only": (start("review"), [
        ("maintain_contingency_plan", maintain(valid=True)),
    ]),
}
SCHEDULED = {"scheduled_drill"}  # started by the scheduler, not through the start form


@pytest.fixture(scope="module")
def continuity_process():
    return load(PROCESS)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return form_validator(PROCESS, name)


# -- paths and coverage ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(continuity_process, name):
    start_data, steps = PATHS[name]
    run, events, thrown = drive(continuity_process, start_data, steps)
    assert run.completed
    assert run.ready_user_tasks() == [] and run.waiting_messages() == []
    assert thrown == []
    assert [e.spec_id for e in events if e.kind == "task_ready"] == [spec_id for spec_id, _ in steps]
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done[-3:] == ["maintain_contingency_plan", "plan_valid_gateway", "continuity_reviewed"]
    Coverage.add(PROCESS, flows_taken(events))


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_validates_against_its_form(name):
    """The data of every step is what the application would accept."""
    start_data, steps = PATHS[name]
    assert not path_form_errors(PROCESS, start_data, steps, check_start=name not in SCHEDULED)


def test_scheduled_start_enters_the_yearly_drill(continuity_process):
    run, events, _ = drive(continuity_process, {}, [])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["continuity_drill"]
    assert run.data()["purpose"] == "drill"
    assert "flow_purpose_gateway_to_drill_merge" in flows_taken(events)


def test_drill_improvement_goes_back_to_the_plan(continuity_process):
    run, _, _ = drive(continuity_process, start("drill"), [("continuity_drill", drill(improve=True))])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "draft_contingency_plan"
    # The improvement plan is the input of the revision (shown read-only on the form).
    assert task.data["improvement_plan"] == "增加短信群发通知"


def test_review_of_an_outdated_plan_goes_back_to_the_plan(continuity_process):
    run, _, _ = drive(continuity_process, start("review"), [("maintain_contingency_plan", maintain(valid=False))])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "draft_contingency_plan"
    assert task.data["review_result"] == "备用机房已迁移，预案需更新"


def test_lanes_are_the_spec_roles(continuity_process):
    lanes = {meta.spec_id: meta.lane_id for meta in continuity_process.user_tasks.values()}
    assert lanes == {
        "requirements_analysis": "continuity_operator",       # 表9 步骤1 服务连续性操作员
        "draft_contingency_plan": "continuity_lead",          # 步骤2 组长组织制定
        "continuity_drill": "continuity_lead",                # 步骤3 组长每年组织一次应急演习
        "maintain_contingency_plan": "continuity_operator",   # 步骤4 服务连续性操作员
    }
    start_event = continuity_process.elements["continuity_started"]
    assert start_event["type"] == "startEvent"
    info = read_bpmn(parse_xml((ROOT / "bpmn" / f"{PROCESS}.bpmn").read_bytes()))
    assert info.properties["continuity_started"]["schedule"] == "R/P1Y"


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS)
    taken = Coverage.taken.get(PROCESS, set())
    missing = expected - taken
    print(f"\n{PROCESS}.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
