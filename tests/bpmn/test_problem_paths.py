"""Every path of problem.bpmn (spec 6.1.3, Table 3) through the engine alone; every sequence flow is taken."""
from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from app.engine.definitions import evaluate_decision, load_decision
from tests.bpmn.conftest import Coverage, all_flows, load
from tests.bpmn.driver import drive, flows_taken, form_schema, form_validator, path_form_errors

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "problem"
BUSINESS_KEY = "PRO-TEST-0001"  # what the driver puts in the context
INCIDENT_KEY = "INC-20261125-0001"


# -- form data for each step -------------------------------------------------------------------

def from_incident(**over: Any) -> dict[str, Any]:
    """The problem_requested payload an incident throws (also valid against the start form)."""
    data = {
        "origin_key": INCIDENT_KEY,
        "origin_process": "incident",
        "summary": "监测数据库连接池反复耗尽",
        "symptoms": "监测数据库连接超时，页面无法查询，重启后恢复",
        "category": "database",
        "affected_cis": ["CI-DB-01"],
        "impact": "high",
        "urgency": "medium",
    }
    data.update(over)
    return data


def by_hand(**over: Any) -> dict[str, Any]:
    """A problem lead opens a problem by hand: no origin_key at all (the HTML form drops empty fields)."""
    data = {k: v for k, v in from_incident(category="network", impact="medium", urgency="low").items()
            if k not in ("origin_key", "origin_process")}
    data["summary"] = "核心交换机端口间歇性丢包"
    data.update(over)
    return data


def record(start: dict[str, Any], **over: Any) -> dict[str, Any]:
    data = {
        "summary": start["summary"],
        "reporter_name": "李四",
        "reporter_contact": "13900000000",
        "occurred_at": "2026-11-25T09:30:00+08:00",
        "affected_cis": start.get("affected_cis", []),
        "symptoms": start["symptoms"],
        "error_codes": "ORA-12170",
        "impact": start["impact"],
        "urgency": start["urgency"],
        "category": start["category"],
    }
    data.update(over)
    return data


def classify(start: dict[str, Any], linked_incidents: int = 2, **over: Any) -> dict[str, Any]:
    data = {"category": start["category"], "impact": start["impact"], "urgency": start["urgency"],
            "linked_incidents": linked_incidents, "classification_note": "按分级分类准则"}
    data.update(over)
    return data


def assign(expert: str = "expert1") -> dict[str, Any]:
    return {"assigned_expert": expert, "assignment_note": "数据库方向"}


def investigate(found: bool, next_action: str = "continue") -> dict[str, Any]:
    if found:
        return {"findings": "连接未释放导致连接池耗尽", "faulty_cis": ["CI-DB-01"], "root_cause_found": True,
                "root_cause": "应用程序异常分支未关闭数据库连接",
                "known_error_title": "异常分支连接泄漏导致连接池耗尽",
                "workaround": "连接数超过80%时重启应用服务"}
    return {"findings": "日志不足，尚未定位", "root_cause_found": False, "next_action": next_action}


def evaluate(needs_change: bool) -> dict[str, Any]:
    data = {"resources": "DBA 1人、开发 2人日", "solution": "修复连接释放代码并调整连接池上限",
            "needs_change": needs_change}
    if needs_change:
        data.update({"change_summary": "修复应用连接泄漏", "change_description": "发布修复补丁，调整连接池参数",
                     "change_risk": "medium"})
    return data


def implement() -> dict[str, Any]:
    return {"implementation_record": "已调整连接池上限并清理泄漏连接", "implemented_at": "2026-11-26T10:00:00+08:00"}


def close(solved: bool, submit_knowledge: bool = False) -> dict[str, Any]:
    if not solved:
        return {"solved_confirmed": False, "closure_note": "问题仍然复现"}
    return {"solved_confirmed": True, "closure_note": "连续一周未复现", "submit_knowledge": submit_knowledge}


def change_closed(outcome: str, change_key: str = "CHG-20261126-0001") -> tuple[str, str, dict]:
    return ("message", "change_closed", {"reply_to": BUSINESS_KEY, "outcome": outcome, "change_key": change_key})


START_INCIDENT = from_incident()
START_HAND = by_hand()

# Each path: the start data and the steps in order (user tasks and messages delivered).
PATHS: dict[str, tuple[dict, list[tuple]]] = {
    # From an incident: investigation loops (continue, re-assign), a rejected change, the desk finds it not
    # solved, the expert implements directly, closed with knowledge and a reply to the incident.
    "from_incident_all_loops": (START_INCIDENT, [
        ("confirm_and_record", record(START_INCIDENT)),
        ("classify_problem", classify(START_INCIDENT, linked_incidents=6)),
        ("assign_expert", assign("expert1")),
        ("investigate_and_diagnose", investigate(False, "continue")),
        ("investigate_and_diagnose", investigate(False, "reassign")),
        ("assign_expert", assign("expert2")),
        ("investigate_and_diagnose", investigate(True)),
        ("evaluate_solution", evaluate(True)),
        change_closed("rejected"),
        ("evaluate_solution", evaluate(True)),
        change_closed("implemented", "CHG-20261126-0002"),
        ("close_problem", close(False)),
        ("evaluate_solution", evaluate(False)),
        ("implement_solution", implement()),
        ("close_problem", close(True, submit_knowledge=True)),
    ]),
    # Opened by hand: straight through, no change, no knowledge, nobody to reply to.
    "by_hand_direct": (START_HAND, [
        ("confirm_and_record", record(START_HAND)),
        ("classify_problem", classify(START_HAND, linked_incidents=0)),
        ("assign_expert", assign()),
        ("investigate_and_diagnose", investigate(True)),
        ("evaluate_solution", evaluate(False)),
        ("implement_solution", implement()),
        ("close_problem", close(True, submit_knowledge=False)),
    ]),
    # A failed change goes back to the evaluation (6.1.3 (2) a): correct problems caused by failed changes).
    "change_failed_then_direct": (START_INCIDENT, [
        ("confirm_and_record", record(START_INCIDENT)),
        ("classify_problem", classify(START_INCIDENT)),
        ("assign_expert", assign()),
        ("investigate_and_diagnose", investigate(True)),
        ("evaluate_solution", evaluate(True)),
        change_closed("failed"),
        ("evaluate_solution", evaluate(False)),
        ("implement_solution", implement()),
        ("close_problem", close(True)),
    ]),
}


@pytest.fixture(scope="module")
def problem_process():
    return load(PROCESS)


def _schema(name: str) -> dict:
    return form_schema(PROCESS, name)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return form_validator(PROCESS, name)


# -- paths and coverage ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(problem_process, name):
    start, steps = PATHS[name]
    run, events, _ = drive(problem_process, start, steps)
    assert run.completed
    assert run.ready_user_tasks() == []
    assert run.waiting_messages() == []
    assert run.data()["status"] == "closed"
    Coverage.add(PROCESS, flows_taken(events))


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_validates_against_its_form(name):
    """The data of every step is what the application would accept."""
    start, steps = PATHS[name]
    assert not path_form_errors(PROCESS, start, steps)



def test_forms_refuse_incomplete_answers():
    assert list(_validator("investigate_and_diagnose.schema.json").iter_errors(
        {"findings": "x", "root_cause_found": True})), "a root cause needs the known error's fields"
    assert list(_validator("investigate_and_diagnose.schema.json").iter_errors(
        {"findings": "x", "root_cause_found": False})), "no root cause needs the next action"
    assert list(_validator("evaluate_solution.schema.json").iter_errors(
        {"resources": "x", "solution": "y", "needs_change": True})), "a change needs the RFC fields"
    assert list(_validator("close_problem.schema.json").iter_errors({"solved_confirmed": False})), \
        "not solved needs a reason"
    assert list(_validator("close_problem.schema.json").iter_errors({"solved_confirmed": True})), \
        "solved needs the knowledge question answered"


# -- behaviour along the paths -------------------------------------------------------------------

def test_messages_thrown_from_an_incident(problem_process):
    start, steps = PATHS["from_incident_all_loops"]
    run, _, thrown = drive(problem_process, start, steps)
    assert [name for name, _ in thrown] == ["change_requested", "change_requested", "problem_closed",
                                           "knowledge_requested"]
    change = thrown[0][1]
    assert change == {
        "origin_key": BUSINESS_KEY, "origin_process": PROCESS, "summary": "修复应用连接泄漏",
        "description": "发布修复补丁，调整连接池参数", "impact": "high", "urgency": "medium", "risk": "medium",
        "change_type": "normal", "affected_cis": ["CI-DB-01"], "ci_changes": [],
    }
    assert thrown[2][1] == {
        "reply_to": INCIDENT_KEY, "problem_key": BUSINESS_KEY, "outcome": "resolved",
        "known_error": "异常分支连接泄漏导致连接池耗尽", "workaround": "连接数超过80%时重启应用服务",
    }
    assert thrown[3][1] == {
        "origin_key": BUSINESS_KEY, "origin_process": PROCESS, "title": "异常分支连接泄漏导致连接池耗尽",
        "body": "连接数超过80%时重启应用服务", "category": "database",
    }
    data = run.data()
    assert data["change_key"] == "CHG-20261126-0002" and data["change_attempts"] == 2
    assert data["known_error"] is True


@pytest.mark.parametrize("message,form", [("change_requested", "change/start.schema.json"),
                                          ("knowledge_requested", "knowledge/start.schema.json")])
def test_payloads_fit_the_started_processes_start_form(problem_process, message, form):
    """What this process throws is what the started process's own start form accepts ."""
    path = ROOT / "forms" / form
    assert path.is_file(), form
    start, steps = PATHS["from_incident_all_loops"]
    _, _, thrown = drive(problem_process, start, steps)
    schema = json.loads(path.read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    payloads = [payload for name, payload in thrown if name == message]
    assert payloads
    for payload in payloads:
        assert not [e.message for e in validator.iter_errors(payload)]


def test_by_hand_sets_empty_origin_and_replies_to_nobody(problem_process):
    start, steps = PATHS["by_hand_direct"]
    assert "origin_key" not in start
    run, events, thrown = drive(problem_process, start, steps)
    assert thrown == []
    assert run.data()["origin_key"] == "" and run.data()["origin_process"] == ""
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert "reply_problem_closed" not in done and "submit_knowledge" not in done
    assert done[-1] == "problem_end"


def test_empty_origin_key_from_the_start_form_is_not_a_reply(problem_process):
    start = by_hand(origin_key="")
    steps = PATHS["by_hand_direct"][1]
    _, _, thrown = drive(problem_process, start, steps)
    assert thrown == []


def test_priority_from_the_decision_table(problem_process):
    start = START_INCIDENT
    steps = [("confirm_and_record", record(start)), ("classify_problem", classify(start, linked_incidents=6))]
    run, events, _ = drive(problem_process, start, steps)
    (decision,) = [e for e in events if e.kind == "decision_evaluated"]
    assert decision.spec_id == "determine_priority"
    assert decision.detail["decision_id"] == "problem_priority"
    # high impact, medium urgency is P2; six linked incidents raise it to P1.
    assert decision.detail["outputs"] == {"priority": "P1"}
    assert decision.detail["matched"][0]["rule_id"] == "problem_priority_rule_high_medium_many"
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "assign_expert" and task.data["priority"] == "P1"
    assert task.data["status"] == "recorded"


def test_lanes_and_task_properties(problem_process):
    lanes = {spec_id: meta.lane_id for spec_id, meta in problem_process.user_tasks.items()}
    assert lanes == {
        "confirm_and_record": "problem_lead", "classify_problem": "problem_analyst",
        "assign_expert": "problem_lead", "investigate_and_diagnose": "problem_expert",
        "evaluate_solution": "problem_lead", "implement_solution": "problem_expert",
        "close_problem": "service_desk",
    }
    for spec_id in ("investigate_and_diagnose", "implement_solution"):
        assert problem_process.user_tasks[spec_id].properties["assigneeVariable"] == "assigned_expert"
    assert problem_process.start_form.endswith("start.schema.json")
    assert problem_process.elements["determine_priority"]["lane"] == "problem_analyst"


def test_investigation_loops_and_known_error(problem_process):
    start, steps = PATHS["from_incident_all_loops"]
    # continue -> investigate again; re-assign -> the lead; found -> known error, then evaluation.
    expected_next = ["investigate_and_diagnose", "assign_expert", "investigate_and_diagnose", "evaluate_solution"]
    for i, expected in enumerate(expected_next, start=4):
        run, _, _ = drive(problem_process, start, steps[:i])
        assert [t.spec_id for t in run.ready_user_tasks()] == [expected], steps[i - 1][0]
    run, _, _ = drive(problem_process, start, steps[:7])
    (task,) = run.ready_user_tasks()
    assert task.data["known_error"] is True and task.data["status"] == "known_error"
    assert task.data["assigned_expert"] == "expert2"


def test_waits_for_the_change_and_loops_back_when_rejected(problem_process):
    start, steps = PATHS["from_incident_all_loops"]
    run, _, thrown = drive(problem_process, start, steps[:8])
    assert run.ready_user_tasks() == []
    assert run.waiting_messages() == ["change_closed"]
    assert [n for n, _ in thrown] == ["change_requested"]
    run, _, _ = drive(problem_process, start, steps[:9])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "evaluate_solution"
    assert task.data["change_result"]["outcome"] == "rejected"
    assert task.data["status"] == "change_unsuccessful"


# -- the decision table ---------------------------------------------------------------------------

def test_priority_table_covers_every_combination_exactly_once():
    engine = load_decision((ROOT / "dmn" / "problem_priority.dmn").read_bytes(), "problem_priority.dmn")
    assert engine.decision_table.hit_policy.upper() == "UNIQUE"
    base = {("high", "high"): "P1", ("high", "medium"): "P2", ("medium", "high"): "P2",
            ("high", "low"): "P3", ("medium", "medium"): "P3", ("low", "high"): "P3",
            ("medium", "low"): "P4", ("low", "medium"): "P4", ("low", "low"): "P4"}
    raised = {"P1": "P1", "P2": "P1", "P3": "P2", "P4": "P3"}
    levels = ("high", "medium", "low")
    for impact, urgency, linked in itertools.product(levels, levels, (0, 1, 4, 5, 6, 1000)):
        result = evaluate_decision(engine, {"impact": impact, "urgency": urgency, "linked_incidents": linked})
        assert len(result.matched) == 1, (impact, urgency, linked)
        expected = base[(impact, urgency)] if linked < 5 else raised[base[(impact, urgency)]]
        assert result.outputs == {"priority": expected}, (impact, urgency, linked)
    rules = engine.decision_table.rules
    assert len({r.id for r in rules}) == len(rules) == 17
    assert all(r.description for r in rules)


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS)
    taken = Coverage.taken.get(PROCESS, set())
    missing = expected - taken
    print(f"\nproblem.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
