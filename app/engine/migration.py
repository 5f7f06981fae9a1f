"""Moving a running instance's stored state onto another version of its process.

Stored state holds only the task tree, each task naming its spec by bpmn id (see runtime.py); loading it
with another version's spec works when every task the instance is on (ready, waiting, started) names a spec
the target has. Predictions (future, likely, maybe tasks) of specs the target lacks are dropped and the
branches below the active tasks are predicted again from the target's spec, so the instance continues on
the new diagram.
"""
from __future__ import annotations

import json
import zlib
from typing import Any

from SpiffWorkflow.task import TaskState

from .definitions import CompiledProcess
from .runtime import ProcessRun

_ACTIVE = {int(TaskState.READY), int(TaskState.WAITING), int(TaskState.STARTED)}
_PREDICTED = {int(TaskState.FUTURE), int(TaskState.LIKELY), int(TaskState.MAYBE)}


class MigrationRefused(Exception):
    """The state cannot move to the target version; `reasons` says why."""

    def __init__(self, reasons: list[str]):
        self.reasons = reasons
        super().__init__("; ".join(reasons))


def _spec_names(compiled: CompiledProcess) -> set[str]:
    names = set(compiled.spec.task_specs)
    for sub in (compiled.subprocess_specs or {}).values():
        names.update(sub.task_specs)
    return names


def _prune(tasks: dict[str, dict], known: set[str]) -> list[str]:
    """Drop predicted tasks whose spec is unknown (with their descendants); return the other unknown specs."""
    missing, drop = [], set()
    for guid, task in tasks.items():
        if task["task_spec"] not in known:
            if task["state"] in _PREDICTED:
                drop.add(guid)
            else:
                missing.append(task["task_spec"])
    pending = list(drop)
    while pending:
        for child in tasks.get(pending.pop(), {}).get("children", []):
            if child not in drop:
                drop.add(child)
                pending.append(child)
    for guid in drop:
        tasks.pop(guid, None)
    for task in tasks.values():
        task["children"] = [c for c in task.get("children", []) if c not in drop]
    return missing


def active_specs(state: bytes) -> set[str]:
    """Bpmn ids of the tasks an instance is on now (ready, waiting or started)."""
    dct = json.loads(zlib.decompress(state))
    trees = [dct["tasks"], *(sub["tasks"] for sub in dct.get("subprocesses", {}).values())]
    return {t["task_spec"] for tree in trees for t in tree.values() if t["state"] in _ACTIVE}


def migrate_state(state: bytes, target: CompiledProcess) -> bytes:
    """Return the state re-bound to the target version, or raise MigrationRefused naming what is missing."""
    known = _spec_names(target)
    gone = sorted(name for name in active_specs(state) if name not in known)
    if gone:
        raise MigrationRefused([f"the target version has no element {name!r} that the instance waits on"
                                for name in gone])
    dct = json.loads(zlib.decompress(state))
    missing = _prune(dct["tasks"], known)
    for sub in dct.get("subprocesses", {}).values():
        missing += _prune(sub["tasks"], known)
    if missing:
        raise MigrationRefused([f"the target version lacks element {name!r} the instance has passed"
                                for name in sorted(set(missing))])
    pruned = zlib.compress(json.dumps(dct, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), 6)
    try:
        run = ProcessRun.load(target, pruned)
        workflow: Any = run.workflow
        # Predict the branches below the active tasks again, from the target's spec.
        for task in workflow.get_tasks(state=TaskState.READY | TaskState.WAITING | TaskState.STARTED):
            task.task_spec._predict(task, mask=TaskState.NOT_FINISHED_MASK)
        return run.dump()
    except MigrationRefused:
        raise
    except Exception as exc:  # SpiffWorkflow raises assorted errors on a tree that does not fit the spec
        raise MigrationRefused([f"the state does not load on the target version: {type(exc).__name__}: {exc}"]) \
            from None
