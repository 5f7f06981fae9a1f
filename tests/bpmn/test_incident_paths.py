"""Every path of incident.bpmn through the engine alone; every sequence flow is taken at least once."""
from __future__ import annotations

import pytest

from app.engine.runtime import ProcessRun, TaskNotReady
from tests.bpmn.conftest import Coverage, all_flows
from tests.support import PATHS, record, start_data


def drive(compiled, start: dict, steps: list[tuple[str, dict]]) -> tuple[ProcessRun, list]:
    """Run a path, asserting at each step that exactly the expected task is ready."""
    run = ProcessRun.start(compiled, start)
    events = run.take_events()
    for spec_id, data in steps:
        ready = run.ready_user_tasks()
        assert [t.spec_id for t in ready] == [spec_id], f"expected {spec_id}, ready: {[t.spec_id for t in ready]}"
        # Round-trip the state at every wait, as the application does.
        run = ProcessRun.load(compiled, run.dump())
        run.complete(ready[0].guid, data)
        events += run.take_events()
    return run, events


def flows_of(events) -> set[str]:
    return {e.flow_id for e in events if e.flow_id}


@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(incident_process, name):
    start, steps = PATHS[name]
    run, events = drive(incident_process, start, steps)
    assert run.completed
    assert run.ready_user_tasks() == []
    Coverage.add("incident", flows_of(events))


def test_out_of_scope_tells_reporter(incident_process):
    run, events = drive(incident_process, start_data(), [("detect_and_record", record(in_scope=False))])
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done[-2:] == ["notify_out_of_scope", "incident_out_of_scope"]
    assert run.data()["status"] == "out_of_scope"


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
    run, _ = drive(incident_process, start, steps)
    import json
    import zlib

    state = json.loads(zlib.decompress(run.dump()))
    assert "spec" not in state and "subprocess_specs" not in state


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows("incident")
    taken = Coverage.taken.get("incident", set())
    missing = expected - taken
    print(f"\nincident.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
