"""Every path of incident.bpmn through the engine alone; every sequence flow is taken at least once."""
from __future__ import annotations

import json
import zlib
from datetime import UTC, datetime, timedelta

import jsonschema
import pytest

from app.engine.runtime import NotWaiting, ProcessRun, TaskNotReady
from tests.bpmn.conftest import ROOT, Coverage, all_flows
from tests.bpmn.driver import drive, flows_taken
from tests.support import (
    CHANGE_CLOSED,
    ESCALATION_AFTER,
    MESSAGE_PATHS,
    PATHS,
    PROBLEM_CLOSED,
    SLOW_SUPPORT_STEPS,
    close,
    record,
    start_data,
)

BUSINESS_KEY = "INC-TEST-0001"  # what tests.bpmn.driver.drive puts in the instance's data


def _user_steps(steps: list[tuple]) -> list[str]:
    return [step[0] for step in steps if step[0] != "message"]


def _forms(steps: list[tuple], spec_id: str) -> list[dict]:
    """The form data of every completion of one user task in a path, in order."""
    return [step[1] for step in steps if step[0] == spec_id]


@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(incident_process, name):
    start, steps = PATHS[name]
    run, events, _thrown = drive(incident_process, start, steps)
    assert run.completed
    assert run.ready_user_tasks() == [] and run.waiting_messages() == []
    # Exactly the expected tasks became ready, one at a time, in the path's order.
    assert [e.spec_id for e in events if e.kind == "task_ready"] == _user_steps(steps)
    caught = [e.detail["name"] for e in events if e.kind == "message_caught"]
    assert caught == [step[1] for step in steps if step[0] == "message"]
    Coverage.add("incident", flows_taken(events))


def test_message_paths_constant():
    assert MESSAGE_PATHS == {"escalations_problem_rfc_reopen"}
    for name, (_start, steps) in PATHS.items():
        assert all(len(step) == (3 if step[0] == "message" else 2) for step in steps), name


def test_linked_path_requests_problem_and_change(incident_process):
    start, steps = PATHS["escalations_problem_rfc_reopen"]
    run, _events, thrown = drive(incident_process, start, steps)
    assert [name for name, _ in thrown] == ["problem_requested", "change_requested"]
    problem, change = (payload for _, payload in thrown)
    (leads,) = _forms(steps, "report_to_leads")
    assert problem == {
        "origin_key": BUSINESS_KEY, "origin_process": "incident", "summary": leads["problem_summary"],
        "symptoms": start["symptoms"], "category": "hardware", "affected_cis": ["SRV-DB-01"],
        "impact": "high", "urgency": "medium",
    }
    (resolved,) = [data for data in _forms(steps, "resolve_and_recover") if data["needs_change"]]
    assert change == {
        "origin_key": BUSINESS_KEY, "origin_process": "incident", "summary": resolved["rfc_summary"],
        "description": resolved["resolution"], "impact": "high", "urgency": "medium", "risk": "medium",
        "change_type": "normal", "affected_cis": ["SRV-DB-01"], "ci_changes": [],
    }
    data = run.data()
    assert data["status"] == "closed" and data["create_problem"] is True and data["rfc_requested"] is True
    assert data["problem_result"] == PROBLEM_CLOSED and data["change_result"] == CHANGE_CLOSED
    assert (data["problem_key"], data["problem_outcome"], data["known_error"], data["workaround"]) == (
        "PRB-TEST-0001", "resolved", "连接池参数不当", "扩大连接池")
    assert (data["change_key"], data["change_outcome"]) == ("CHG-TEST-0001", "implemented")


def test_waits_for_problem_then_change_before_closing(incident_process):
    start, steps = PATHS["escalations_problem_rfc_reopen"]
    until_confirmed = steps[:-3]
    assert until_confirmed[-1][0] == "confirm_resolution" and until_confirmed[-1][1]["confirmed"] is True
    run, _events, _thrown = drive(incident_process, start, until_confirmed)
    assert run.ready_user_tasks() == [] and run.waiting_messages() == ["problem_closed"]
    with pytest.raises(NotWaiting):
        run.deliver("change_closed", CHANGE_CLOSED)
    run = ProcessRun.load(incident_process, run.dump())
    run.deliver("problem_closed", PROBLEM_CLOSED)
    assert run.ready_user_tasks() == [] and run.waiting_messages() == ["change_closed"]
    run = ProcessRun.load(incident_process, run.dump())
    run.deliver("change_closed", CHANGE_CLOSED)
    assert run.waiting_messages() == []
    assert [t.spec_id for t in run.ready_user_tasks()] == ["close_incident"]
    done = [e.spec_id for e in run.take_events() if e.kind == "element_completed"]
    assert done[0] == "await_change" and done[-1] == "record_link_results"


def test_paths_without_links_go_straight_to_closing(incident_process):
    start, steps = PATHS["desk_solves"]
    run, events, thrown = drive(incident_process, start, steps)
    assert thrown == []
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert "await_problem" not in done and "await_change" not in done and "request_knowledge" not in done
    data = run.data()
    assert data["create_problem"] is False and data["rfc_requested"] is False
    assert "problem_key" not in data and "change_key" not in data


def test_knowledge_is_requested_after_closing(incident_process):
    start, steps = PATHS["no_problem_submits_knowledge"]
    run, events, thrown = drive(incident_process, start, steps)
    # The leads were told but created no problem; no change was needed: only the knowledge request.
    assert [name for name, _ in thrown] == ["knowledge_requested"]
    ((resolved,), (closed,)) = _forms(steps, "resolve_and_recover"), _forms(steps, "close_incident")
    assert thrown[0][1] == {"origin_key": BUSINESS_KEY, "origin_process": "incident",
                            "title": closed["knowledge_title"], "body": resolved["resolution"],
                            "category": "infrastructure"}  # the knowledge catalogue's class for "database"
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done.index("mark_closed") < done.index("request_knowledge") < done.index("incident_closed")
    assert "request_problem" not in done and run.data()["status"] == "closed"


def test_knowledge_title_defaults_to_symptoms(incident_process):
    start, steps = PATHS["desk_solves"]
    without_title = close(submit_knowledge=True)
    del without_title["knowledge_title"]
    _run, _events, thrown = drive(incident_process, start, [*steps[:-1], ("close_incident", without_title)])
    ((name, payload),) = thrown
    assert name == "knowledge_requested" and payload["title"] == start["symptoms"][:100]
    assert payload["body"] == _forms(steps, "classify_and_first_support")[0]["desk_solution"]
    assert payload["category"] == "terminal"  # the same class in the knowledge catalogue


@pytest.mark.parametrize(("path", "message", "form"), [
    ("escalations_problem_rfc_reopen", "problem_requested", "problem/start.schema.json"),
    ("escalations_problem_rfc_reopen", "change_requested", "change/start.schema.json"),
    ("no_problem_submits_knowledge", "knowledge_requested", "knowledge/start.schema.json"),
])
def test_payloads_fit_the_started_processes_start_form(incident_process, path, message, form):
    """What the incident throws is what the started process's own start form accepts ."""
    schema_file = ROOT / "forms" / form
    assert schema_file.is_file(), form
    _run, _events, thrown = drive(incident_process, *PATHS[path])
    (payload,) = [p for name, p in thrown if name == message]
    validator = jsonschema.Draft202012Validator(json.loads(schema_file.read_bytes()))
    errors = [e.message for e in validator.iter_errors(payload)]
    assert errors == [], errors


def test_out_of_scope_tells_reporter(incident_process):
    run, events, thrown = drive(incident_process, start_data(), [("detect_and_record", record(in_scope=False))])
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done[-2:] == ["notify_out_of_scope", "incident_out_of_scope"]
    assert run.data()["status"] == "out_of_scope" and thrown == []


def test_escalation_lines_and_upward(incident_process):
    start, steps = PATHS["escalations_problem_rfc_reopen"]
    run = ProcessRun.start(incident_process, start)
    seen = []
    for spec_id, data in steps[:5]:
        (task,) = run.ready_user_tasks()
        seen.append((spec_id, task.data.get("support_line"), task.data.get("assigned_group")))
        run.complete(task.guid, data)
    assert seen[2:5] == [
        ("investigate_and_diagnose", 1, "support_line_1"),
        ("investigate_and_diagnose", 2, "support_line_2"),
        ("investigate_and_diagnose", 3, "support_line_3"),
    ]
    (desk_again,) = run.ready_user_tasks()
    assert desk_again.spec_id == "classify_and_first_support"
    assert desk_again.data["escalate_to_parent_org"] is True
    assert desk_again.data["escalation_count"] == 2


def test_decisions_set_priority_and_group(incident_process):
    run = ProcessRun.start(incident_process, start_data())
    (task,) = run.ready_user_tasks()
    run.complete(task.guid, record(impact="high", urgency="high", category="network"))
    decisions = [e for e in run.take_events() if e.kind == "decision_evaluated"]
    assert [d.detail["decision_id"] for d in decisions] == ["incident_priority", "incident_classification"]
    assert decisions[0].detail["outputs"] == {"priority": "P1"}
    assert decisions[0].detail["matched"][0]["rule_id"]
    (desk,) = run.ready_user_tasks()
    assert desk.data["priority"] == "P1" and desk.data["assigned_group"] == "support_line_2"


def test_completing_a_finished_task_is_refused(incident_process):
    run = ProcessRun.start(incident_process, start_data())
    (task,) = run.ready_user_tasks()
    run.complete(task.guid, record())
    with pytest.raises(TaskNotReady):
        run.complete(task.guid, record())


def test_state_does_not_carry_the_spec(incident_process):
    start, steps = PATHS["desk_solves"]
    run, _events, _thrown = drive(incident_process, start, steps)
    state = json.loads(zlib.decompress(run.dump()))
    assert "spec" not in state and "subprocess_specs" not in state


def test_support_too_slow_timer_fires_once_with_a_frozen_clock(incident_process):
    """The boundary timer on investigate_and_diagnose: due after escalation_after, fires at a frozen `now`,
    notifies the incident lead, and the task stays with the support group."""
    start = PATHS["no_problem_submits_knowledge"][0]
    run, events, _thrown = drive(incident_process, start, SLOW_SUPPORT_STEPS)
    data = run.ready_user_tasks()[0].data
    assert data["escalation_after"] == ESCALATION_AFTER[data["priority"]]
    ((timer, due),) = run.due_timers()
    assert timer == "support_too_slow"
    hours = int(ESCALATION_AFTER[data["priority"]][2:-1])
    assert timedelta(hours=hours - 1) < due - datetime.now(UTC) <= timedelta(hours=hours)
    run = ProcessRun.load(incident_process, run.dump())
    assert run.fire_timers(due - timedelta(seconds=1)) == []  # not yet
    assert run.fire_timers(due + timedelta(seconds=1)) == ["support_too_slow"]
    fired = run.take_events()
    done = [e.spec_id for e in fired if e.kind == "element_completed"]
    assert done == ["support_too_slow", "notify_incident_lead", "slow_support_reported"]
    assert [t.spec_id for t in run.ready_user_tasks()] == ["investigate_and_diagnose"]
    assert run.due_timers() == []  # non-interrupting, fired once: nothing left to fire
    run = ProcessRun.load(incident_process, run.dump())
    assert run.fire_timers(due + timedelta(days=1)) == []
    Coverage.add("incident", flows_taken(events + fired))
    # The task still completes normally afterwards.
    (task,) = run.ready_user_tasks()
    run.complete(task.guid, PATHS["no_problem_submits_knowledge"][1][2][1])
    assert [t.spec_id for t in run.ready_user_tasks()] == ["report_to_leads"]


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows("incident")
    taken = Coverage.taken.get("incident", set())
    missing = expected - taken
    print(f"\nincident.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
