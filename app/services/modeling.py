"""Editing definitions in the browser: deploy uploads, decisions and forms; history, compare, migrate, export.

Every deployment goes through `definitions.deploy_bundle`, so an edit is validated exactly like `flask deploy`
and nothing broken is ever stored. Only process owners and administrators may use these functions.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..engine import dmn as dmn_layer
from ..engine import sandbox
from ..engine.definitions import (
    DefinitionError,
    DefinitionIssue,
    evaluate_decision,
    load_decision,
    read_bpmn,
    read_dmn_ids,
    validate_form_schema,
)
from ..engine.migration import MigrationRefused, migrate_state
from ..engine.runtime import ProcessRun
from ..engine.xml import UnsafeXMLError, parse_xml
from ..extensions import db
from ..models import Group, HumanTask, ProcessInstance, ProcessVersion, User
from . import instances as instances_service
from . import timers
from .audit import append_event
from .definitions import Bundle, compiled_for, deploy_bundle, deployed_processes, latest_version
from .errors import Conflict, DefinitionRejected, Forbidden, NotFound

EDITOR_GROUPS = ("process_owner", "administrator")


def may_edit(actor: User) -> bool:
    """Process owners and administrators edit definitions; nobody else (auditors are read-only)."""
    return bool(actor and actor.is_authenticated and actor.in_group(*EDITOR_GROUPS))


def require_editor(actor: User) -> None:
    if not may_edit(actor):
        raise Forbidden(_("Only process owners and administrators may edit process definitions."))


def _reject(message: str, issues: list[DefinitionIssue]) -> DefinitionRejected:
    return DefinitionRejected(message, [i.to_dict() for i in issues])


def _max_bytes() -> int:
    return int(current_app.config.get("MAX_DEFINITION_BYTES", 2 * 1024 * 1024))


def _check_xml(data: bytes, filename: str) -> None:
    """Refuse oversized, DTD/entity-bearing or malformed XML before anything else looks at it."""
    try:
        parse_xml(data, filename=filename, max_bytes=_max_bytes())
        data.decode("utf-8")
    except UnsafeXMLError as exc:
        raise _reject(str(exc), [DefinitionIssue(str(exc), file=filename)]) from None
    except UnicodeDecodeError:
        message = _("%(file)s is not UTF-8 text.", file=filename)
        raise _reject(message, [DefinitionIssue(message, file=filename)]) from None


def require_version(process_id: str, number: int | None = None) -> ProcessVersion:
    query = select(ProcessVersion).where(ProcessVersion.process_id == process_id)
    if number is None:
        query = query.order_by(ProcessVersion.version.desc()).limit(1)
    else:
        query = query.where(ProcessVersion.version == number)
    version = db.session.scalars(query).first()
    if version is None:
        raise NotFound(_("Process %(id)s has no such version.", id=process_id))
    return version


def _bundle_of(version: ProcessVersion) -> Bundle:
    return Bundle(version.process_id, version.bpmn_name, version.bpmn_xml.encode("utf-8"),
                  {path: text.encode("utf-8") for path, text in (version.files or {}).items()})


def _decision_files() -> dict[str, tuple[str, str]]:
    """decision id -> (path, xml) from the latest versions of all processes."""
    out: dict[str, tuple[str, str]] = {}
    for version in deployed_processes():
        for path, text in (version.files or {}).items():
            if path.startswith("dmn/"):
                try:
                    for decision_id in read_dmn_ids(text.encode("utf-8"), path):
                        out.setdefault(decision_id, (path, text))
                except UnsafeXMLError:
                    continue
    return out


def deploy_upload(process_id: str, bpmn: bytes, actor: User, note: str = "",
                  files: dict[str, bytes] | None = None) -> tuple[ProcessVersion, bool]:
    """Validate and deploy a BPMN document as the next version of a process.

    The DMN tables and forms of the latest version are reused unless `files` replaces them; a decision the
    new diagram names that another deployed process carries is brought along. Returns (version, created):
    unchanged content makes no new version.
    """
    require_editor(actor)
    _check_xml(bpmn, f"{process_id}.bpmn")
    current = latest_version(process_id)
    bundle_files: dict[str, bytes] = {}
    bpmn_name = f"{process_id}.bpmn"
    if current is not None:
        bundle_files = _bundle_of(current).files
        bpmn_name = current.bpmn_name
    bundle_files.update(files or {})
    info = read_bpmn(parse_xml(bpmn, filename=bpmn_name, max_bytes=_max_bytes()))
    have = set()
    for path, data in bundle_files.items():
        if path.startswith("dmn/"):
            have.update(read_dmn_ids(data, path))
    missing = set(info.decision_refs.values()) - have - {""}
    if missing:
        known = _decision_files()
        for ref in missing:
            if ref in known:
                path, text = known[ref]
                bundle_files[path] = text.encode("utf-8")
    bundle = Bundle(process_id, bpmn_name, bpmn, bundle_files)
    return deploy_bundle(bundle, actor, note)


def decision_source(decision_id: str) -> tuple[str, str]:
    """The deployed DMN document defining a decision: (path, xml)."""
    found = _decision_files().get(decision_id)
    if found is None:
        raise NotFound(_("No deployed process uses decision %(id)s.", id=decision_id))
    return found


def decisions() -> dict[str, list[str]]:
    """decision id -> the processes whose latest version uses it."""
    out: dict[str, list[str]] = {}
    for version in deployed_processes():
        for decision_id in compiled_for(version).decisions:
            out.setdefault(decision_id, []).append(version.process_id)
    return dict(sorted(out.items()))


def check_decision(decision_id: str, dmn: bytes) -> Any:
    """Parse and check one decision table; return the loaded decision or raise DefinitionRejected."""
    filename = f"{decision_id}.dmn"
    _check_xml(dmn, filename)
    try:
        engine = load_decision(dmn, filename, max_bytes=_max_bytes())
    except DefinitionError as exc:
        raise _reject(_("The decision table does not load."), exc.issues) from None
    except Exception as exc:  # SpiffWorkflow's DMN parser raises assorted errors on malformed tables
        raise _reject(str(exc), [DefinitionIssue(f"{type(exc).__name__}: {exc}", file=filename)]) from None
    if engine.decision_id != decision_id:
        message = _("The document defines decision %(found)s, not %(id)s.", found=engine.decision_id, id=decision_id)
        raise _reject(message, [DefinitionIssue(message, engine.decision_id, filename)])
    problems = dmn_layer.check_table(engine.decision_table, metadata=engine.meta, check=sandbox.check)
    if problems:
        raise _reject(_("The decision table has %(n)d problem(s); nothing was deployed.", n=len(problems)),
                      [DefinitionIssue(p, decision_id, filename) for p in problems])
    return engine


def deploy_decision(decision_id: str, dmn: bytes, actor: User, note: str = "") -> list[ProcessVersion]:
    """Deploy a new version of every process whose latest version uses the decision (all or nothing)."""
    require_editor(actor)
    users = []
    for version in deployed_processes():
        for path, text in (version.files or {}).items():
            if path.startswith("dmn/") and decision_id in read_dmn_ids(text.encode("utf-8"), path):
                users.append((version, path))
    if not users:
        raise NotFound(_("No deployed process uses decision %(id)s.", id=decision_id))
    check_decision(decision_id, dmn)
    deployed: list[ProcessVersion] = []
    issues: list[dict] = []
    for version, path in users:
        bundle = _bundle_of(version)
        bundle.files[path] = dmn
        try:
            new, created = deploy_bundle(bundle, actor, note or _("decision %(id)s edited", id=decision_id))
        except DefinitionRejected as exc:
            issues.extend({**i, "process_id": version.process_id} for i in exc.issues)
            continue
        if created:
            deployed.append(new)
    if issues:
        # The caller rolls back: no process gets the new table unless all of them accept it.
        raise DefinitionRejected(_("%(n)d problem(s); nothing was deployed.", n=len(issues)), issues)
    return deployed


def try_decision(dmn: bytes, data: dict[str, Any], actor: User) -> dict[str, Any]:
    """Evaluate an edited decision table on inputs with the engine's own code."""
    require_editor(actor)
    _check_xml(dmn, "decision.dmn")
    try:
        engine = load_decision(dmn, "decision.dmn", max_bytes=_max_bytes())
    except DefinitionError as exc:
        raise _reject(_("The decision table does not load."), exc.issues) from None
    except Exception as exc:
        raise _reject(str(exc), [DefinitionIssue(f"{type(exc).__name__}: {exc}")]) from None
    try:
        result = evaluate_decision(engine, data)
    except Exception as exc:  # an evaluation error is shown to the editor, not raised
        return {"error": str(exc), "outputs": None, "matched": []}
    event = result.to_event()
    return {"error": None, "outputs": event["outputs"], "matched": event["matched"],
            "matched_rows": event["matched_rows"], "hit_policy": event["hit_policy"]}


def decision_inputs(dmn: bytes) -> list[dict[str, str]]:
    """The input columns of a decision table: label, expression (the data name) and typeRef."""
    engine = load_decision(dmn, "decision.dmn", max_bytes=_max_bytes())
    return [{"label": i.label or i.expression or "", "expression": (i.expression or "").strip(),
             "type": i.typeRef or "string"} for i in engine.decision_table.inputs]


def form_source(process_id: str, filename: str) -> str:
    version = require_version(process_id)
    path = f"forms/{process_id}/{filename}"
    text = (version.files or {}).get(path)
    if text is None:
        raise NotFound(_("Form %(file)s is not part of %(id)s.", file=filename, id=process_id))
    return text


def check_form(filename: str, text: str) -> dict:
    schema, problems = validate_form_schema(filename, text.encode("utf-8"))
    if problems:
        raise _reject(problems[0].message, problems)
    return schema or {}


def deploy_form(process_id: str, filename: str, text: str, actor: User, note: str = "") -> tuple[ProcessVersion, bool]:
    """Deploy a new version of a process with one form replaced (validated as a JSON Schema first)."""
    require_editor(actor)
    form_source(process_id, filename)
    check_form(filename, text)
    bundle = _bundle_of(require_version(process_id))
    bundle.files[f"forms/{process_id}/{filename}"] = text.encode("utf-8")
    return deploy_bundle(bundle, actor, note or _("form %(file)s edited", file=filename))


def history(process_id: str) -> list[ProcessVersion]:
    """Every version of a process, newest first."""
    versions = list(db.session.scalars(select(ProcessVersion).where(ProcessVersion.process_id == process_id)
                                       .order_by(ProcessVersion.version.desc())))
    if not versions:
        raise NotFound(_("Process %(id)s is not deployed.", id=process_id))
    return versions


def version_dict(version: ProcessVersion) -> dict[str, Any]:
    return {"process_id": version.process_id, "version": version.version, "content_hash": version.content_hash,
            "note": version.note, "name": version.name,
            "deployed_by": version.deployed_by.username if version.deployed_by else None,
            "deployed_at": version.deployed_at.isoformat() if version.deployed_at else None}


@dataclass
class LibraryRow:
    version: ProcessVersion
    counts: dict[int, dict[str, int]]  # version number -> {"running": n, "completed": n}


def library() -> list[LibraryRow]:
    """Every deployed process with its current version and instance counts per version."""
    rows = db.session.execute(
        select(ProcessVersion.process_id, ProcessVersion.version, ProcessInstance.status, func.count())
        .join(ProcessInstance, ProcessInstance.version_id == ProcessVersion.id)
        .group_by(ProcessVersion.process_id, ProcessVersion.version, ProcessInstance.status)).all()
    counts: dict[str, dict[int, dict[str, int]]] = {}
    for pid, number, status, n in rows:
        counts.setdefault(pid, {}).setdefault(number, {"running": 0, "completed": 0})
        key = "running" if status == "running" else "completed"
        counts[pid][number][key] += n
    return [LibraryRow(v, dict(sorted(counts.get(v.process_id, {}).items(), reverse=True)))
            for v in deployed_processes()]


def groups() -> list[Group]:
    return list(db.session.scalars(select(Group).order_by(Group.code)))


def version_forms(version: ProcessVersion) -> list[str]:
    prefix = f"forms/{version.process_id}/"
    return sorted(p.removeprefix(prefix) for p in (version.files or {}) if p.startswith(prefix))


# -- compare -------------------------------------------------------------------------------------
def _reading(version: ProcessVersion) -> dict[str, dict[str, Any]]:
    info = read_bpmn(parse_xml(version.bpmn_xml.encode("utf-8"), filename=version.bpmn_name))
    out: dict[str, dict[str, Any]] = {}
    for el_id, el in info.elements.items():
        if el["process"] != version.process_id:
            continue
        out[el_id] = {"type": el["type"], "name": el["name"], "documentation": el["documentation"],
                      "properties": info.properties.get(el_id, {}), "lane": info.node_lane.get(el_id, ""),
                      "decision": info.decision_refs.get(el_id, ""), "message": info.message_events.get(el_id, "")}
    for flow in info.flows:
        if flow["process"] == version.process_id:
            out[flow["id"]] = {"type": "sequenceFlow", "source": flow["source"], "target": flow["target"],
                               "condition": flow["condition"] or ""}
    for lane_id, name in info.lanes.items():
        out[lane_id] = {"type": "lane", "name": name}
    # The process itself: its name and properties (e.g. its English name) change too.
    out[version.process_id] = {"type": "process", "name": info.process_names.get(version.process_id, ""),
                               "properties": info.process_properties.get(version.process_id, {})}
    return out


def compare(process_id: str, a: int, b: int) -> dict[str, Any]:
    """Elements added, removed and changed (attribute by attribute) from version a to version b."""
    old, new = _reading(require_version(process_id, a)), _reading(require_version(process_id, b))
    added = [{"id": k, **new[k]} for k in sorted(set(new) - set(old))]
    removed = [{"id": k, **old[k]} for k in sorted(set(old) - set(new))]
    changed = []
    for k in sorted(set(old) & set(new)):
        diffs = {f: {"from": old[k].get(f), "to": new[k].get(f)}
                 for f in sorted(set(old[k]) | set(new[k])) if old[k].get(f) != new[k].get(f)}
        if diffs:
            changed.append({"id": k, "type": new[k]["type"], "name": new[k].get("name", ""), "changes": diffs})
    return {"process_id": process_id, "from": a, "to": b, "added": added, "removed": removed, "changed": changed}


# -- migrate -------------------------------------------------------------------------------------
def migration_problems(instance: ProcessInstance, target: ProcessVersion) -> tuple[list[str], bytes | None]:
    """Why the instance cannot move to the target version (empty if it can) and the state to store."""
    if target.process_id != instance.process_id:
        return [_("Version %(v)s belongs to another process.", v=target.version)], None
    if instance.status != "running":
        return [_("Only running instances can be migrated (this one is %(status)s).", status=instance.status)], None
    if target.id == instance.version_id:
        return [_("The instance already runs on version %(v)s.", v=target.version)], None
    try:
        return [], migrate_state(instance.state, compiled_for(target))
    except MigrationRefused as exc:
        return [_("Version %(v)s cannot take this instance: %(reason)s", v=target.version, reason=reason)
                for reason in exc.reasons], None


def migrate(instance: ProcessInstance, target: ProcessVersion, actor: User) -> ProcessInstance:
    """Move one running instance to another version of its process, or raise Conflict with the reason."""
    require_editor(actor)
    problems, state = migration_problems(instance, target)
    if problems:
        raise Conflict("; ".join(problems), reasons=problems)
    from_version = instance.version.version
    compiled = compiled_for(target)
    instance.state = state
    instance.version_id = target.id
    instance.version = target
    run = None
    for task in db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                           HumanTask.state == "ready")):
        meta = compiled.user_tasks.get(task.spec_id)
        if meta is None:
            continue
        task.name = meta.name
        task.form_file = meta.form_file
        if meta.lane_id != task.lane_id:
            # The task moved to another lane: offer it as the new version would have.
            run = run or ProcessRun.load(compiled, state)
            spiff_task = run.task(task.task_guid)
            group, assignee = instances_service._candidate(
                instance, meta, dict(spiff_task.data) if spiff_task is not None else {})
            task.lane_id = meta.lane_id
            task.candidate_group = group
            if task.assignee_id is None or assignee is not None:
                task.assignee_id = assignee
    append_event(instance, "instance_migrated", actor=actor,
                 data={"from_version": from_version, "to_version": target.version})
    db.session.flush()
    # The new version may wait on other timers (ids, durations): rebuild the instance's rows from it.
    timers.sync(instance, run or ProcessRun.load(compiled, state), force=True)
    return instance


def migrate_instances(process_id: str, from_version: int, to_version: int, actor: User) -> dict[str, Any]:
    """Migrate every running instance of one version to another; report which moved and why others did not."""
    require_editor(actor)
    source, target = require_version(process_id, from_version), require_version(process_id, to_version)
    moved, refused = [], []
    for instance in db.session.scalars(select(ProcessInstance).where(
            ProcessInstance.version_id == source.id, ProcessInstance.status == "running")
            .order_by(ProcessInstance.id)):
        problems, _state = migration_problems(instance, target)
        if problems:
            refused.append({"business_key": instance.business_key, "reasons": problems})
        else:
            migrate(instance, target, actor)
            moved.append(instance.business_key)
    return {"moved": moved, "refused": refused}


# -- export --------------------------------------------------------------------------------------
def export(bpmn_dir: Path, dmn_dir: Path, forms_dir: Path) -> list[Path]:
    """Write the latest deployed version of every process (and its DMN and forms) back to the directories."""
    written: list[Path] = []
    roots = {"dmn": dmn_dir, "forms": forms_dir, "bpmn": bpmn_dir}
    latest = deployed_processes()
    deployed = {v.process_id for v in latest}
    for version in latest:
        targets = {bpmn_dir / version.bpmn_name: version.bpmn_xml}
        for path, text in (version.files or {}).items():
            top, _sep, rest = path.partition("/")
            if top not in roots or not rest or ".." in Path(rest).parts or top == "bpmn":
                continue  # called processes are exported from their own latest version
            owner = rest.partition("/")[0]
            if top == "forms" and owner != version.process_id and owner in deployed:
                continue  # a called process's forms come from its own latest version
            targets[roots[top] / rest] = text
        for target, text in targets.items():
            if target.is_file() and target.read_text(encoding="utf-8") == text:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written
