"""Every path of emergency_change.bpmn (spec 6.1.4 (1) b, Table 5) through the engine alone; every flow is taken."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.bpmn.conftest import Coverage, all_flows, load
from tests.bpmn.driver import drive, flows_taken, form_validator

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "emergency_change"


# -- form data for each step (also used by test_change_paths) ----------------------------------

def change_data(**over: Any) -> dict[str, Any]:
    """What the change process hands over through its call activity (the change's own data)."""
    data = {
        "business_key": "CHA-20261126-0001", "process_id": "change", "origin_key": "", "origin_process": "",
        "summary": "紧急修补数据交换服务漏洞", "description": "安全厂商通报高危漏洞，需立即修补",
        "impact": "high", "urgency": "high", "risk": "medium", "change_type": "emergency",
        "affected_cis": ["CI-APP-07"], "ci_changes": [], "apply_ci_changes": False,
        "change_category": "emergency", "status": "submitted",
    }
    data.update(over)
    return data


def authorise() -> dict[str, Any]:
    return {"ecab_decision": "authorise", "ecab_opinion": "确属紧急，同意", "impact": "high", "urgency": "high",
            "risk": "medium", "change_type": "emergency", "allocated_resources": "二线工程师2人，今晚22:00窗口"}


def ecab_return() -> dict[str, Any]:
    return {"ecab_decision": "return", "ecab_opinion": "不属于紧急变更，按一般变更处理"}


def plan(implementer: str = "impl1") -> dict[str, Any]:
    return {"implementation_plan": "停服务、打补丁、启服务", "test_plan": "冒烟测试", "backout_plan": "回滚到快照",
            "remediation_plan": "切换备用节点", "schedule": "22:00-23:00", "implementer": implementer}


def build(test: bool) -> dict[str, Any]:
    return {"build_notes": "补丁包已构建", "time_for_test": test}


def trial(passed: bool) -> dict[str, Any]:
    return {"test_passed": passed, "test_record": "冒烟测试通过" if passed else "冒烟测试失败"}


def implement(result: str) -> dict[str, Any]:
    notes = "按方案实施" if result == "success" else "服务无法启动"
    return {"implementation_result": result, "implementation_notes": notes}


def backout(rebuild: bool) -> dict[str, Any]:
    return {"backout_notes": "已回滚到快照", "rebuild": rebuild}


def review() -> dict[str, Any]:
    return {"review_result": "achieved", "root_cause_review": "厂商通报高危漏洞", "purpose_review": "消除安全风险",
            "review_record": "纳入月度补丁计划"}


def close() -> dict[str, Any]:
    return {"emergency_summary": "漏洞已修补，服务恢复"}


def authorised_to_review(*middle: tuple) -> list[tuple]:
    """Authorise and plan, the given build/test/implement steps, then the CAB review and the closing summary."""
    return [("ecab_authorise", authorise()), ("plan_emergency_change", plan()), *middle,
            ("review_emergency", review()), ("close_emergency", close())]


# -- the paths: (start data, steps, expected emergency_result) ------------------------------------

PATHS: dict[str, tuple[dict, list[tuple], str]] = {
    "ecab_returns": (change_data(), [("ecab_authorise", ecab_return())], "returned"),
    "no_time_to_test": (change_data(), authorised_to_review(
        ("emergency_build", build(False)), ("emergency_implement", implement("success"))), "implemented"),
    "tested_then_implemented": (change_data(), authorised_to_review(
        ("emergency_build", build(True)), ("emergency_test", trial(True)),
        ("emergency_implement", implement("success"))), "implemented"),
    "test_fails_rebuild_implement_fails_give_up": (change_data(), authorised_to_review(
        ("emergency_build", build(True)), ("emergency_test", trial(False)), ("run_backout", backout(True)),
        ("emergency_build", build(False)), ("emergency_implement", implement("failed")),
        ("run_backout", backout(False))), "failed"),
}


@pytest.fixture(scope="module")
def emergency_process():
    return load(PROCESS)


def _validator(form_file: str) -> jsonschema.Draft202012Validator:
    return form_validator(*form_file.split("/", 1))


def step_errors(compiled: Any, steps: list[tuple]) -> list[str]:
    """Validate every task step's data against that task's form, as the application does."""
    errors = []
    for step in steps:
        if step[0] == "message":
            continue
        spec_id, data = step
        form_file = compiled.user_tasks[spec_id].form_file
        errors += [f"{spec_id}: {e.message}" for e in _validator(form_file).iter_errors(data)]
    return errors


def record_coverage(events: list) -> None:
    """Flows taken count for whichever of the two processes they belong to (the change calls this one)."""
    taken = flows_taken(events)
    for process_id in ("change", PROCESS):
        Coverage.add(process_id, taken & all_flows(process_id))


# -- paths and coverage --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(emergency_process, name):
    start, steps, result = PATHS[name]
    run, events, thrown = drive(emergency_process, start, steps)
    assert run.completed
    assert run.ready_user_tasks() == [] and run.waiting_messages() == []
    assert thrown == []  # the calling change process does the replying
    data = run.data()
    assert data["emergency_result"] == result
    assert data["apply_ci_changes"] is (result == "implemented")
    ends = [e.spec_id for e in events if e.kind == "element_completed"]
    assert ends[-1] == ("emergency_returned" if result == "returned" else "emergency_closed")
    record_coverage(events)


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_validates_against_its_form(emergency_process, name):
    _, steps, _ = PATHS[name]
    assert not step_errors(emergency_process, steps)


def test_forms_refuse_incomplete_answers():
    ecab = _validator(f"{PROCESS}/ecab_authorise.schema.json")
    assert list(ecab.iter_errors({"ecab_decision": "authorise", "ecab_opinion": "同意"})), \
        "authorising needs the quick evaluation and the resources"
    assert not list(ecab.iter_errors(ecab_return()))
    assert list(_validator(f"{PROCESS}/plan_emergency_change.schema.json").iter_errors(
        {k: v for k, v in plan().items() if k != "backout_plan"})), "the back-out plan is required"


def test_lanes_follow_table_5(emergency_process):
    lanes = {spec_id: meta.lane_id for spec_id, meta in emergency_process.user_tasks.items()}
    assert lanes == {
        "ecab_authorise": "ecab", "plan_emergency_change": "change_lead", "emergency_build": "change_implementer",
        "emergency_test": "change_implementer", "emergency_implement": "change_implementer",
        "run_backout": "change_implementer", "review_emergency": "cab", "close_emergency": "change_lead",
    }
    for spec_id in ("emergency_build", "emergency_test", "emergency_implement", "run_backout"):
        assert emergency_process.user_tasks[spec_id].properties["assigneeVariable"] == "implementer"
    assert emergency_process.elements["emergency_requested"]["lane"] == "ecab"
    assert emergency_process.start_form is None  # started by the change process's call activity


def test_failure_runs_the_back_out_plan_and_rebuilds(emergency_process):
    start, steps, _ = PATHS["test_fails_rebuild_implement_fails_give_up"]
    # build, test fails -> back-out plan; rebuild -> build again (no time to test) -> implement fails -> back-out.
    expected = ["emergency_test", "run_backout", "emergency_build", "emergency_implement", "run_backout"]
    for i, spec_id in enumerate(expected, start=3):
        run, _, _ = drive(emergency_process, start, steps[:i])
        assert [t.spec_id for t in run.ready_user_tasks()] == [spec_id], steps[i - 1][0]
    run, _, _ = drive(emergency_process, start, steps[:8])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "review_emergency"
    assert task.data["build_count"] == 2 and task.data["status"] == "emergency_failed"


def test_returned_request_goes_back_unchanged(emergency_process):
    start, steps, _ = PATHS["ecab_returns"]
    run, events, _ = drive(emergency_process, start, steps)
    data = run.data()
    assert data["status"] == "returned_by_ecab"
    assert data["summary"] == start["summary"] and data["change_type"] == "emergency"
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert "plan_emergency_change" not in done


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS)
    taken = Coverage.taken.get(PROCESS, set())
    missing = expected - taken
    print(f"\nemergency_change.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
