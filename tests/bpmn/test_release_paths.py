"""Every path of release.bpmn (spec 6.1.6, Table 7) through the engine alone; every sequence flow is taken."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.bpmn.conftest import Coverage, all_flows, load
from tests.bpmn.driver import drive, flows_taken, form_schema, form_validator, path_form_errors

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "release"
BUSINESS_KEY = "REL-TEST-0001"  # what the driver puts in the context
CHANGE_KEY = "CHG-20261125-0001"


# -- form data for each step -------------------------------------------------------------------

def from_change(**over: Any) -> dict[str, Any]:
    """The release_requested payload change management throws (also valid against the start form)."""
    data = {"origin_key": CHANGE_KEY, "origin_process": "change", "summary": "监测数据平台 2.3 版发布",
            "contents": "应用服务器补丁、数据库结构脚本", "scheduled_date": "2026-12-01"}
    data.update(over)
    return data


def by_hand(**over: Any) -> dict[str, Any]:
    """The release lead starts a release by hand: no origin fields at all (the HTML form drops them)."""
    data = {k: v for k, v in from_change().items() if k not in ("origin_key", "origin_process")}
    data.update(over)
    return data


def plan() -> dict[str, Any]:
    return {"release_date": "2026-12-01", "release_description": "2.3 版：应用补丁与数据库结构调整",
            "closed_changes": [CHANGE_KEY], "closed_problems": ["PRO-20261120-0003"], "closed_known_errors": [],
            "acceptance_process": "测试环境验收后生产验证", "dependencies": "数据库先于应用升级",
            "risks": "升级窗口超时", "plan_change_conditions": "测试未通过时调整", "exit_criteria": "核心功能验证通过"}


def release_tests(passed: bool) -> dict[str, Any]:
    return {"functional_test": "passed", "non_functional_test": "passed" if passed else "failed",
            "acceptance_test": "passed", "installation_test": "not_applicable",
            "test_report": "全部通过" if passed else "性能测试未达标"}


def approval(decision: str) -> dict[str, Any]:
    return {"rfc_checked": True, "approval_decision": decision,
            "approval_opinion": "同意发布" if decision == "approved" else "回退方案不可行"}


def implementation(plan_changed: bool = False, reapproval: bool = False) -> dict[str, Any]:
    data = {"implementation_plan": "周六 22:00 停机升级",
            "task_assignments": ["数据库脚本：rel_op1", "应用部署：rel_op2"], "plan_changed": plan_changed}
    if plan_changed:
        data.update({"reapproval_needed": reapproval, "plan_change_note": "升级窗口改到周日"})
    return data


def execute() -> dict[str, Any]:
    return {"implementation_result": "succeeded", "implementation_note": "按方案完成"}


def review() -> dict[str, Any]:
    return {"review_result": "发布成功，无遗留问题", "exit_criteria_met": True}


def closure(complete: bool) -> dict[str, Any]:
    return {"handover_complete": complete, "cmdb_updated": complete, "closure_note": "交接完成" if complete else ""}


def handover() -> dict[str, Any]:
    return {"handover_documents": ["运维手册 2.3", "回退方案"], "cmdb_updated": True}


START_CHANGE = from_change()
START_HAND = by_hand()

PATHS: dict[str, tuple[dict, list[tuple]]] = {
    # From change management: a failed test back to the plan, a plan change that needs re-approval,
    # an incomplete hand-over, then closed and the change told "released".
    "from_change_all_loops": (START_CHANGE, [
        ("release_plan", plan()),
        ("release_test", release_tests(False)),
        ("release_plan", plan()),
        ("release_test", release_tests(True)),
        ("release_approval", approval("approved")),
        ("release_implementation", implementation(plan_changed=True, reapproval=True)),
        ("release_approval", approval("approved")),
        ("release_implementation", implementation()),
        ("execute_release", execute()),
        ("release_review", review()),
        ("release_closure", closure(False)),
        ("complete_handover", handover()),
        ("release_closure", closure(True)),
    ]),
    # The plan is not feasible: rejected straight back to change management.
    "from_change_rejected": (START_CHANGE, [
        ("release_plan", plan()),
        ("release_test", release_tests(True)),
        ("release_approval", approval("rejected")),
    ]),
    "by_hand_rejected": (START_HAND, [
        ("release_plan", plan()),
        ("release_test", release_tests(True)),
        ("release_approval", approval("rejected")),
    ]),
    # By hand, straight through; the plan changes but needs no re-approval.
    "by_hand_released": (START_HAND, [
        ("release_plan", plan()),
        ("release_test", release_tests(True)),
        ("release_approval", approval("approved")),
        ("release_implementation", implementation(plan_changed=True, reapproval=False)),
        ("execute_release", execute()),
        ("release_review", review()),
        ("release_closure", closure(True)),
    ]),
}
OUTCOME = {"from_change_all_loops": "closed", "from_change_rejected": "rejected", "by_hand_rejected": "rejected",
           "by_hand_released": "closed"}


@pytest.fixture(scope="module")
def release_process():
    return load(PROCESS)


def _schema(name: str) -> dict:
    return form_schema(PROCESS, name)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return form_validator(PROCESS, name)


# -- paths and coverage ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(release_process, name):
    start, steps = PATHS[name]
    run, events, _ = drive(release_process, start, steps)
    assert run.completed
    assert run.ready_user_tasks() == []
    assert run.waiting_messages() == []
    assert run.data()["status"] == OUTCOME[name]
    Coverage.add(PROCESS, flows_taken(events))


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_validates_against_its_form(name):
    """The data of every step is what the application would accept."""
    start, steps = PATHS[name]
    assert not path_form_errors(PROCESS, start, steps)



def test_forms_refuse_incomplete_answers():
    assert list(_validator("release_implementation.schema.json").iter_errors(
        {**implementation(), "plan_changed": True})), "a plan change says whether it needs re-approval"
    assert list(_validator("release_test.schema.json").iter_errors(
        {**release_tests(True), "functional_test": "ok"})), "test results are passed/failed/not applicable"
    assert list(_validator("release_plan.schema.json").iter_errors(
        {k: v for k, v in plan().items() if k != "exit_criteria"})), "the plan states its exit criteria"


# -- behaviour along the paths -------------------------------------------------------------------

def test_released_replies_to_the_change(release_process):
    start, steps = PATHS["from_change_all_loops"]
    run, _, thrown = drive(release_process, start, steps)
    assert thrown == [("release_closed", {"reply_to": CHANGE_KEY, "release_key": BUSINESS_KEY,
                                          "outcome": "released"})]
    data = run.data()
    assert data["cmdb_updated"] is True and data["handover_complete"] is True


def test_rejection_goes_back_to_change_management(release_process):
    start, steps = PATHS["from_change_rejected"]
    _, events, thrown = drive(release_process, start, steps)
    assert thrown == [("release_closed", {"reply_to": CHANGE_KEY, "release_key": BUSINESS_KEY,
                                          "outcome": "rejected"})]
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert "release_implementation" not in done and done[-1] == "rejected_reply_end"


@pytest.mark.parametrize("name,end", [("by_hand_rejected", "rejected_end"), ("by_hand_released", "released_end")])
def test_by_hand_replies_to_nobody(release_process, name, end):
    start, steps = PATHS[name]
    assert "origin_key" not in start
    run, events, thrown = drive(release_process, start, steps)
    assert thrown == []
    assert run.data()["origin_key"] == "" and run.data()["origin_process"] == ""
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done[-1] == end


def test_empty_origin_key_from_the_start_form_is_not_a_reply(release_process):
    _, _, thrown = drive(release_process, by_hand(origin_key=""), PATHS["by_hand_rejected"][1])
    assert thrown == []


def test_failed_test_goes_back_to_the_plan_and_plan_change_to_approval(release_process):
    start, steps = PATHS["from_change_all_loops"]
    run, _, _ = drive(release_process, start, steps[:2])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["release_plan"]
    run, _, _ = drive(release_process, start, steps[:6])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["release_approval"]
    run, _, _ = drive(release_process, start, steps[:11])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["complete_handover"]


def test_start_payload_becomes_data(release_process):
    run, _, _ = drive(release_process, START_CHANGE, [])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "release_plan"
    assert {k: task.data[k] for k in START_CHANGE} == START_CHANGE
    assert task.data["status"] == "planning"
    assert release_process.message_start == "release_requested"


def test_lanes(release_process):
    lanes = {spec_id: meta.lane_id for spec_id, meta in release_process.user_tasks.items()}
    assert lanes == {
        "release_plan": "release_lead", "release_test": "release_operator", "release_approval": "release_lead",
        "release_implementation": "release_lead", "execute_release": "release_operator",
        "release_review": "release_lead", "release_closure": "release_lead", "complete_handover": "release_operator",
    }
    for end in ("rejected_reply_end", "released_reply_end"):
        assert release_process.elements[end]["lane"] == "change_lead"


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS)
    taken = Coverage.taken.get(PROCESS, set())
    missing = expected - taken
    print(f"\n{PROCESS}.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
