"""Run process instances: create, load, complete tasks, step the engine, record what happened, save."""
from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnEvent, BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition as _BaseMessage
from SpiffWorkflow.bpmn.specs.event_definitions.timer import CycleTimerEventDefinition, TimerEventDefinition
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG
from SpiffWorkflow.spiff.specs.event_definitions import MessageEventDefinition
from SpiffWorkflow.task import TaskState

from .definitions import CompiledProcess
from .sandbox import Connectors, SandboxError, SandboxScriptEngine

# Our own state format version, stored with every instance; SpiffWorkflow's serializer
# version is pinned with the package and recorded inside the state too.
STATE_FORMAT = 1


class EngineError(Exception):
    """The engine could not carry out a step (script, condition or decision failed)."""

    def __init__(self, message: str, element_id: str | None = None):
        self.element_id = element_id
        super().__init__(message)


class TaskNotReady(Exception):
    """The task is not ready (already completed, cancelled, or unknown)."""


class NotWaiting(Exception):
    """The instance does not wait for this message now."""


@dataclass
class ReadyTask:
    """A ready human task as the application sees it."""

    guid: str
    spec_id: str
    name: str
    data: dict[str, Any]


@dataclass
class StepEvent:
    """Something the engine did during one action, in order."""

    # element_completed | task_ready | task_cancelled | decision_evaluated | message_thrown | message_caught
    # | workflow_completed
    kind: str
    spec_id: str | None = None
    guid: str | None = None
    name: str | None = None
    element_type: str | None = None
    from_id: str | None = None
    flow_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _make_serializer(compiled: CompiledProcess) -> BpmnWorkflowSerializer:
    spec, subprocess_specs = compiled.spec, compiled.subprocess_specs

    class SpecFreeWorkflowConverter(BpmnWorkflowConverter):
        """Leaves the spec out of the state: it lives once per version, not once per instance."""

        def to_dict(self, workflow: BpmnWorkflow) -> dict:
            dct = WorkflowConverter.to_dict(self, workflow)
            dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
            dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
            return dct

        def from_dict(self, dct: dict) -> BpmnWorkflow:
            workflow = self.target_class(spec, subprocess_specs, deserializing=True)
            workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
            workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
            self.set_default_attributes(workflow, dct)
            self.subprocesses_from_dict(dct["subprocesses"], workflow)
            workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
            return workflow

    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = SpecFreeWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    return BpmnWorkflowSerializer(registry)


def serializer_for(compiled: CompiledProcess) -> BpmnWorkflowSerializer:
    """Return the (cached) serializer bound to this compiled version's spec."""
    if compiled.serializer is None:
        compiled.serializer = _make_serializer(compiled)
    return compiled.serializer


def _is_element(task: Any) -> bool:
    return getattr(task.task_spec, "bpmn_id", None) is not None


class ProcessRun:
    """One instance's workflow held in memory for the duration of one action."""

    def __init__(self, compiled: CompiledProcess, workflow: BpmnWorkflow):
        self.compiled = compiled
        self.workflow = workflow
        self.script_engine: SandboxScriptEngine = workflow.script_engine
        self._before: dict[UUID, TaskState] = {}
        self.events: list[StepEvent] = []
        # What the instance waited on when it was loaded (a new instance waited on nothing): lets the
        # caller skip re-syncing its timer rows when a step left them unchanged.
        self.timers_at_load: frozenset[tuple[str, datetime]] = frozenset()

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def start(cls, compiled: CompiledProcess, data: dict[str, Any], connectors: Connectors | None = None,
              context: dict[str, Any] | None = None) -> ProcessRun:
        """Create a new workflow with start data and run it to its first wait state.

        A process whose start event catches a message is started by that message, with the start data as
        its payload, so starting by hand and starting from another process are the same path.
        """
        engine = SandboxScriptEngine(connectors)
        workflow = BpmnWorkflow(compiled.spec, compiled.subprocess_specs, script_engine=engine)
        run = cls(compiled, workflow)
        run._snapshot()
        # Data on the root task flows down to the start event and beyond.
        workflow.task_tree.data.update(context or {})
        workflow.task_tree.data.update(data)
        if compiled.message_start:
            # The payload is also the start data (SpiffWorkflow only keeps it under a messageVariable).
            run._step(workflow.do_engine_steps)
            run._step(lambda: workflow.catch(_message(compiled.message_start, data)))
        run._advance()
        return run

    @classmethod
    def load(cls, compiled: CompiledProcess, state: bytes, connectors: Connectors | None = None) -> ProcessRun:
        """Restore a workflow from stored state (which never contains the spec)."""
        dct = json.loads(zlib.decompress(state))
        if dct.pop("_format", None) != STATE_FORMAT:
            raise EngineError("stored workflow state has an unknown format version")
        serializer = serializer_for(compiled)
        workflow = serializer.from_dict(dct)
        workflow.script_engine = SandboxScriptEngine(connectors)
        run = cls(compiled, workflow)
        run._snapshot()
        if run.has_timers:
            run.timers_at_load = frozenset(run.due_timers())
        return run

    def dump(self) -> bytes:
        """Serialise the workflow (without its spec), compressed."""
        dct = serializer_for(self.compiled).to_dict(self.workflow)
        dct["_format"] = STATE_FORMAT
        dct[BpmnWorkflowSerializer.VERSION_KEY] = BpmnWorkflowSerializer.VERSION if hasattr(
            BpmnWorkflowSerializer, "VERSION") else None
        raw = json.dumps(dct, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8")
        return zlib.compress(raw, 6)

    # -- queries ------------------------------------------------------------------------------
    @property
    def completed(self) -> bool:
        return self.workflow.is_completed()

    def waiting_messages(self) -> list[str]:
        """Names of the messages the instance waits for now."""
        return sorted({e.name for e in self.workflow.waiting_events() if "Message" in str(e.event_type)})

    @property
    def has_timers(self) -> bool:
        """Does this process (or a subprocess) define any timer event? Cached per compiled version."""
        cached = getattr(self.compiled, "_has_timers", None)
        if cached is None:
            specs = [self.compiled.spec, *self.compiled.subprocess_specs.values()]
            cached = any(isinstance(getattr(ts, "event_definition", None), TimerEventDefinition)
                         for spec in specs for ts in spec.task_specs.values())
            self.compiled._has_timers = cached  # type: ignore[attr-defined]
        return cached

    def due_timers(self) -> list[tuple[str, datetime]]:
        """Timers the instance waits on now: (element id, due instant in UTC), soonest first.

        Cycle timers report their next occurrence; a timer whose due time is not known yet is left out.
        """
        out: list[tuple[str, datetime]] = []
        for task in list(self.workflow.event_manager.tasks.values()):
            definition = getattr(task.task_spec, "event_definition", None)
            if not isinstance(definition, TimerEventDefinition):
                continue
            value = task._get_internal_data("event_value")
            if isinstance(value, dict):  # a cycle: {"cycles", "next", "duration"}
                value = value.get("next") if value.get("cycles") != 0 else None
            if not value:
                continue
            try:
                due = TimerEventDefinition.get_datetime(str(value))
            except Exception:  # noqa: BLE001 - an unparseable value is not a timer we can schedule
                continue
            if due.tzinfo is None:
                due = due.replace(tzinfo=UTC)
            out.append((task.task_spec.bpmn_id or task.task_spec.name, due.astimezone(UTC)))
        return sorted(out, key=lambda item: item[1])

    def fire_timers(self, now: datetime) -> list[str]:
        """Fire every timer due at `now` (an injected clock), run to the next wait state; return their ids.

        SpiffWorkflow compares timers with the wall clock; marking a due timer as fired lets a frozen or
        late clock decide instead, so the same `now` gives the same result in tests and in the sweep.
        """
        fired = []
        due = {spec_id for spec_id, when in self.due_timers() if when <= now}
        for task in list(self.workflow.event_manager.tasks.values()):
            definition = getattr(task.task_spec, "event_definition", None)
            spec_id = getattr(task.task_spec, "bpmn_id", None) or task.task_spec.name
            if isinstance(definition, TimerEventDefinition) and spec_id in due and not isinstance(
                    definition, CycleTimerEventDefinition):
                task._set_internal_data(event_fired=True)
                fired.append(spec_id)
        if fired:
            self._step(self.workflow.refresh_timers)
            self._advance()
        return sorted(fired)

    def ready_user_tasks(self) -> list[ReadyTask]:
        """Ready human tasks in tree order."""
        return [
            ReadyTask(str(t.id), t.task_spec.bpmn_id, t.task_spec.bpmn_name or t.task_spec.bpmn_id, t.data)
            for t in self.workflow.get_tasks(state=TaskState.READY, manual=True)
        ]

    def data(self) -> dict[str, Any]:
        """The instance data: the last completed task's data, or the workflow's when finished."""
        if self.completed:
            end = self.workflow.data or {}
            last = self.workflow.last_task
            return {**(last.data if last is not None else {}), **end}
        last = self.workflow.last_task
        return dict(last.data) if last is not None else dict(self.workflow.task_tree.data)

    def task(self, guid: str) -> Any:
        try:
            return self.workflow.get_task_from_id(UUID(guid))
        except Exception:
            return None

    # -- actions ------------------------------------------------------------------------------
    def complete(self, guid: str, data: dict[str, Any]) -> None:
        """Complete a ready human task with the submitted data and run to the next wait state."""
        task = self.task(guid)
        if task is None or task.state != TaskState.READY or not task.task_spec.manual:
            raise TaskNotReady(guid)
        task.data.update(data)
        try:
            task.run()
        except (SpiffWorkflowException, SandboxError) as exc:
            raise EngineError(_describe(exc), task.task_spec.bpmn_id) from exc
        self._advance()

    def deliver(self, name: str, payload: dict[str, Any]) -> None:
        """Deliver a message the instance waits for, then run to the next wait state."""
        if name not in self.waiting_messages():
            raise NotWaiting(name)
        self.events.append(StepEvent("message_caught", detail={"name": name, "payload": payload}))
        self._step(lambda: self.workflow.catch(_message(name, payload)))
        self._advance()

    def _step(self, action: Any) -> None:
        try:
            action()
        except (SpiffWorkflowException, SandboxError) as exc:
            raise EngineError(_describe(exc), _element_of(exc)) from exc

    def _advance(self) -> None:
        self._step(self.workflow.do_engine_steps)
        self._collect()

    # -- change tracking ----------------------------------------------------------------------
    def _snapshot(self) -> None:
        self._before = {t.id: t.state for t in self.workflow.get_tasks()}
        self.script_engine.decision_log.clear()

    def _collect(self) -> None:
        """Turn the difference between the snapshot and now into ordered StepEvents."""
        decisions = {d["task_guid"]: d for d in self.script_engine.decision_log}
        self.script_engine.decision_log.clear()
        done: list[Any] = []
        ready: list[Any] = []
        cancelled: list[Any] = []
        now: dict[UUID, TaskState] = {}
        # One walk over the tree both finds what changed and becomes the next snapshot.
        for t in self.workflow.get_tasks():
            now[t.id] = t.state
            before = self._before.get(t.id)
            if t.state == before or not _is_element(t):
                continue
            if t.state == TaskState.COMPLETED:
                done.append(t)
            elif t.state == TaskState.READY and t.task_spec.manual:
                ready.append(t)
            elif t.state == TaskState.CANCELLED and before is not None and before != TaskState.CANCELLED:
                cancelled.append(t)
        self._before = now
        done.sort(key=lambda t: t.last_state_change)
        for t in done:
            spec = t.task_spec
            source = _previous_element(t)
            flow = self.compiled.flows.get((source, spec.bpmn_id)) if source else None
            if t.id and str(t.id) in decisions:
                d = decisions[str(t.id)]
                self.events.append(StepEvent("decision_evaluated", spec.bpmn_id, str(t.id), spec.bpmn_name,
                                             _type_of(self.compiled, spec.bpmn_id), detail=d))
            self.events.append(StepEvent(
                "element_completed", spec.bpmn_id, str(t.id), spec.bpmn_name,
                _type_of(self.compiled, spec.bpmn_id), source, flow, {"changes": _changes(t)},
            ))
        for t in ready:
            spec = t.task_spec
            source = _previous_element(t)
            self.events.append(StepEvent(
                "task_ready", spec.bpmn_id, str(t.id), spec.bpmn_name, "userTask", source,
                self.compiled.flows.get((source, spec.bpmn_id)) if source else None,
            ))
        for t in cancelled:
            self.events.append(StepEvent("task_cancelled", t.task_spec.bpmn_id, str(t.id), t.task_spec.bpmn_name))
        for thrown in self.workflow.get_events():
            if isinstance(thrown.event_definition, _BaseMessage):
                self.events.append(StepEvent("message_thrown", detail={
                    "name": thrown.event_definition.name, "payload": thrown.payload or {}}))
        if self.completed and not any(e.kind == "workflow_completed" for e in self.events):
            self.events.append(StepEvent("workflow_completed"))

    def changed_keys(self) -> set[str]:
        """Data keys the steps collected so far (not yet taken) set or changed."""
        keys: set[str] = set()
        for ev in self.events:
            keys.update((ev.detail or {}).get("changes", {}) if ev.kind == "element_completed" else ())
        return keys

    def newly_ready(self) -> list[ReadyTask]:
        """Human tasks that became ready in the steps collected so far (not yet taken)."""
        out = []
        for ev in self.events:
            if ev.kind == "task_ready":
                t = self.task(ev.guid or "")
                if t is not None and t.state == TaskState.READY:
                    out.append(ReadyTask(str(t.id), t.task_spec.bpmn_id, ev.name or "", t.data))
        return out

    def update_ready_data(self, values: dict[str, Any]) -> None:
        """Set values in the data of every ready human task (used by application-side steps)."""
        for t in self.workflow.get_tasks(state=TaskState.READY, manual=True):
            t.data.update(values)

    def take_events(self) -> list[StepEvent]:
        """Return and clear the events collected since the last call."""
        events, self.events = self.events, []
        return events


def _message(name: str, payload: dict[str, Any]) -> BpmnEvent:
    return BpmnEvent(MessageEventDefinition(name), payload=dict(payload or {}))


def _previous_element(task: Any) -> str | None:
    parent = task.parent
    while parent is not None and not _is_element(parent):
        parent = parent.parent
    return parent.task_spec.bpmn_id if parent is not None else None


def _changes(task: Any) -> dict[str, Any]:
    """Top-level data keys the task set or changed relative to its parent (what this step did)."""
    before = task.parent.data if task.parent is not None else {}
    changed = {k: v for k, v in task.data.items() if k not in before or before[k] != v}
    for k in before:
        if k not in task.data:
            changed[k] = None
    return changed


def _type_of(compiled: CompiledProcess, spec_id: str) -> str | None:
    el = compiled.elements.get(spec_id)
    return el["type"] if el else None


def _element_of(exc: Exception) -> str | None:
    task_spec = getattr(exc, "task_spec", None)
    if task_spec is not None:
        return getattr(task_spec, "bpmn_id", None)
    task = getattr(exc, "task", None)
    if task is not None:
        return getattr(task.task_spec, "bpmn_id", None)
    return None


def _describe(exc: Exception) -> str:
    message = str(exc)
    notes = getattr(exc, "__notes__", None)
    if notes:
        message += " (" + "; ".join(notes) + ")"
    return message
