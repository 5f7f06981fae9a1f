"""Drive a compiled process through a path of steps with the engine alone (no Flask, no database)."""
from __future__ import annotations

from typing import Any

from app.engine.definitions import CompiledProcess
from app.engine.runtime import ProcessRun, StepEvent

Step = tuple  # ("task_spec_id", data) or ("message", name, payload)


def drive(
    compiled: CompiledProcess,
    start_data: dict[str, Any],
    steps: list[Step],
    connectors: dict | None = None,
) -> tuple[ProcessRun, list[StepEvent], list[tuple[str, dict]]]:
    """Start an instance and perform the steps in order, round-tripping the state at every wait."""
    context = {"business_key": f"{compiled.process_id.upper()[:3]}-TEST-0001", "process_id": compiled.process_id}
    run = ProcessRun.start(compiled, start_data, connectors, context=context)
    events = run.take_events()
    for step in steps:
        run = ProcessRun.load(compiled, run.dump(), connectors)
        if step[0] == "message":
            _, name, payload = step
            assert name in run.waiting_messages(), f"not waiting for {name}: {run.waiting_messages()}"
            run.deliver(name, payload)
        else:
            spec_id, data = step
            ready = [t for t in run.ready_user_tasks() if t.spec_id == spec_id]
            assert ready, f"expected {spec_id} to be ready; ready: {[t.spec_id for t in run.ready_user_tasks()]}"
            run.complete(ready[0].guid, data)
        events += run.take_events()
    thrown = [(e.detail["name"], e.detail["payload"]) for e in events if e.kind == "message_thrown"]
    return run, events, thrown


def flows_taken(events: list[StepEvent]) -> set[str]:
    return {e.flow_id for e in events if e.flow_id}


def form_schema(process_id: str, name: str) -> dict[str, Any]:
    """The JSON Schema of forms/<process_id>/<name>."""
    import json
    from pathlib import Path

    return json.loads((Path(__file__).resolve().parents[2] / "forms" / process_id / name).read_text(encoding="utf-8"))


def form_validator(process_id: str, name: str) -> Any:
    """A validator for a form, with format checks, as the application validates submissions."""
    import jsonschema

    return jsonschema.Draft202012Validator(form_schema(process_id, name),
                                           format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def path_form_errors(process_id: str, start_data: dict[str, Any], steps: list[Step], *,
                     check_start: bool = True) -> list[str]:
    """Why the application would refuse a path's data: the start form, each task's form, posted read-only fields."""
    errors: list[str] = []
    if check_start:
        start_form = form_validator(process_id, "start.schema.json")
        errors += [f"start: {e.message}" for e in start_form.iter_errors(start_data)]
    for step in steps:
        if step[0] == "message":
            continue
        spec_id, data = step
        name = f"{spec_id}.schema.json"
        errors += [f"{spec_id}: {e.message}" for e in form_validator(process_id, name).iter_errors(data)]
        read_only = {k for k, v in form_schema(process_id, name)["properties"].items() if v.get("readOnly")}
        if read_only & set(data):
            errors.append(f"{spec_id} posts read-only fields {sorted(read_only & set(data))}")
    return errors
