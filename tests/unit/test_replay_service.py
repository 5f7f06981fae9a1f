"""Replay data folded from the event log, re-execution against the record, and the audit CLI."""
from __future__ import annotations

import zlib

import pytest
from sqlalchemy import select, update

from app.engine.runtime import ProcessRun
from app.models import Event, ProcessInstance
from app.services import replay
from app.services.definitions import compiled_for
from tests.replay_support import drive
from tests.support import PATHS


def _events(db, instance):
    return db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)).all()


def _step(steps, type_, element, nth=0):
    found = [s for s in steps if s["type"] == type_ and s["element"] == element]
    return found[nth]


def test_replay_steps_follow_the_escalation_path(db):
    instance = drive("escalations_problem_rfc_reopen")
    data = replay.replay_data(instance)
    steps = data["steps"]
    assert len(steps) == instance.event_seq and [s["seq"] for s in steps] == list(range(1, len(steps) + 1))
    assert "<bpmn:definitions" in data["bpmn_xml"] or "definitions" in data["bpmn_xml"]
    # After recording: the record task done by the desk (county), the priority decided, the desk task active.
    recorded = _step(steps, "task_completed", "detect_and_record")
    assert recorded["actor"] == "desk" and recorded["organisation"] == "county"
    assert recorded["form_data"]["category"] == "hardware" and recorded["active"] == []
    assert "detect_and_record" in recorded["completed"]
    decision = _step(steps, "decision_evaluated", "determine_priority")
    assert decision["decision"]["decision_id"] == "incident_priority"
    assert sorted(decision["decision"]["inputs"].values()) == ["high", "medium"]
    assert decision["decision"]["outputs"]["priority"] and decision["decision"]["matched"]
    ready = _step(steps, "task_ready", "classify_and_first_support")
    assert ready["active"] == ["classify_and_first_support"]
    # Upward escalation: by line3 at the county; the next desk task is the city's.
    escalated = next(s for s in steps if s["type"] == "escalated_upward")
    assert escalated["actor"] == "line3" and escalated["detail"]["to_organisation"] == "city"
    city_desk = _step(steps, "task_completed", "classify_and_first_support", 1)
    assert city_desk["actor"] == "desk_city" and city_desk["organisation"] == "city"
    # Flows taken accumulate; the last step has the whole path and nothing active.
    last = steps[-1]
    assert last["type"] == "instance_completed" and last["active"] == []
    assert {"incident_closed", "close_incident", "request_upper_level"} <= set(last["completed"])
    assert len(last["flows"]) >= len(recorded["flows"]) > 0
    assert all(f in last["flows"] for f in recorded["flows"])
    assert [link["process_id"] for link in data["links"]] == ["problem", "change"]


def test_step_at_selects_the_last_step_before_a_time(db):
    instance = drive("desk_solves")
    steps = replay.replay_data(instance)["steps"]
    assert replay.step_at(steps, steps[5]["at"]) >= 5
    assert replay.step_at(steps, "2000-01-01T00:00:00+00:00") == 0
    assert replay.step_at(steps, "2999-01-01T00:00:00+00:00") == len(steps) - 1
    assert replay.step_at(steps, "not a time") == 0


@pytest.mark.parametrize("path", sorted(PATHS))
def test_reexecution_of_every_incident_path_is_consistent(db, path):
    instance = drive(path)
    result = replay.reexecute(instance)
    assert result.consistent, result.as_dict()
    assert result.steps == len(PATHS[path][1])


def test_reexecution_of_a_running_instance_is_consistent(db):
    instance = drive("escalations_problem_rfc_reopen", steps=6)  # after the upward escalation
    assert instance.status == "running"
    assert replay.reexecute(instance).consistent


def _tamper_state(db, instance, key, value):
    """Change a data value in the stored workflow state behind the engine's back (raw UPDATE)."""
    compiled = compiled_for(instance.version)
    run = ProcessRun.load(compiled, instance.state)
    run.workflow.last_task.data[key] = value
    if run.completed:
        run.workflow.data[key] = value
    db.session.execute(update(ProcessInstance.__table__).where(ProcessInstance.__table__.c.id == instance.id)
                       .values(state=run.dump()))
    db.session.expire_all()
    return db.session.get(ProcessInstance, instance.id)


def test_reexecution_reports_a_tampered_state(db):
    instance = drive("desk_solves")
    instance = _tamper_state(db, instance, "desk_solution", "forged")
    result = replay.reexecute(instance)
    assert not result.consistent
    assert "final data differs" in result.problem and "desk_solution" in result.problem
    assert result.details["stored"]["desk_solution"] == "forged"


def test_reexecution_reports_a_tampered_running_state(db):
    instance = drive("no_problem_submits_knowledge", steps=3)
    instance = _tamper_state(db, instance, "priority", "P4")
    result = replay.reexecute(instance)
    assert not result.consistent and "priority" in result.problem
    # The state really is the engine's format: it still loads.
    assert zlib.decompress(instance.state)


def test_reexecution_reports_altered_form_data_at_its_step(db):
    instance = drive("desk_solves")
    completed = next(e for e in _events(db, instance) if e.type == "task_completed"
                     and e.spec_id == "classify_and_first_support")
    forged = {**completed.data, "form_data": {"desk_solved": False}}
    db.session.execute(update(Event).where(Event.id == completed.id).values(data=forged))
    db.session.expire_all()
    result = replay.reexecute(db.session.get(ProcessInstance, instance.id))
    assert not result.consistent
    # The forged submission makes the step itself change different data than the record says.
    assert result.seq == completed.seq and "classify_and_first_support changed different data" in result.problem
    assert result.details["reexecuted"] == {"desk_solved": False}


def test_reexecution_reports_a_changed_decision_record(db):
    instance = drive("desk_solves")
    decision = next(e for e in _events(db, instance) if e.type == "decision_evaluated")
    db.session.execute(update(Event).where(Event.id == decision.id).values(
        data={**decision.data, "outputs": {"priority": "P1"}}))
    db.session.expire_all()
    result = replay.reexecute(db.session.get(ProcessInstance, instance.id))
    assert not result.consistent and result.seq == decision.seq and "outputs" in result.problem


def test_reexecution_writes_nothing(db):
    instance = drive("desk_solves")
    before = (instance.lock_version, instance.event_seq, instance.event_head, instance.state)
    assert replay.reexecute(instance).consistent
    db.session.flush()
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, instance.id)
    assert (instance.lock_version, instance.event_seq, instance.event_head, instance.state) == before


# --- the CLI names each kind of tampering -----------------------------------------------------------

def _cli(app, *args):
    return app.test_cli_runner().invoke(args=["audit", *args])


def test_cli_verify_names_an_altered_event(app, db):
    instance = drive("desk_solves")
    third = _events(db, instance)[2]
    db.session.execute(update(Event).where(Event.id == third.id).values(data={"name": "forged"}))
    result = _cli(app, "verify", "--instance", instance.business_key)
    assert result.exit_code == 1
    assert f"{instance.business_key}: event #3 (task_ready) has been altered" in result.output


def test_cli_verify_names_a_deleted_event(app, db):
    instance = drive("desk_solves")
    victim = _events(db, instance)[3]
    db.session.execute(Event.__table__.delete().where(Event.__table__.c.id == victim.id))
    result = _cli(app, "verify", "--instance", instance.business_key)
    assert result.exit_code == 1 and "event #4 is missing or out of order" in result.output


def test_cli_verify_names_swapped_events(app, db):
    instance = drive("desk_solves")
    (a_id, a_seq), (b_id, b_seq) = [(e.id, e.seq) for e in _events(db, instance)[4:6]]
    db.session.execute(update(Event).where(Event.id == a_id).values(seq=-1))
    db.session.execute(update(Event).where(Event.id == b_id).values(seq=a_seq))
    db.session.execute(update(Event).where(Event.id == a_id).values(seq=b_seq))
    result = _cli(app, "verify", "--instance", instance.business_key)
    assert result.exit_code == 1
    assert f"{instance.business_key}: event #{a_seq} does not chain to its predecessor" in result.output


def test_cli_verify_all_consistent(app, db):
    drive("desk_solves")
    result = _cli(app, "verify")
    assert result.exit_code == 0 and "all event chains verified" in result.output


def test_cli_reexecute(app, db):
    good = drive("desk_solves")
    bad = drive("out_of_scope")
    result = _cli(app, "reexecute", "--instance", good.business_key)
    assert result.exit_code == 0 and "1 instances re-executed consistently" in result.output
    _tamper_state(db, bad, "in_scope", True)
    result = _cli(app, "reexecute", "--process", "incident")
    assert result.exit_code == 1 and f"{bad.business_key}: the final data differs" in result.output
    assert good.business_key not in result.output
