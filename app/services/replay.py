"""Audit: instance search, step-by-step replay of the event log, re-execution and export packages.

Everything here reads; the only row it writes is an AuditView (who looked at what), never an instance's
state or its hash chain.
"""
from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select

from ..engine.runtime import EngineError, ProcessRun, StepEvent, TaskNotReady
from ..extensions import db
from ..models import AuditView, CaseAttachment, Event, InstanceLink, Organisation, ProcessInstance, ProcessVersion, User
from .audit_trail import verify_instance
from .cases import InstanceFilter, instance_summary, search_query
from .definitions import compiled_for
from .errors import Forbidden, ValidationFailed
from .instances import require_instance
from .tabular import csv_cell

AUDIT_GROUPS = ("auditor", "administrator")
MAX_PER_PAGE = 200
MAX_EXPORT = 200
# Event types the engine produces (what re-execution reproduces); the others come from the application.
ENGINE_TYPES = {"element_completed", "task_completed", "decision_evaluated", "task_ready", "task_cancelled",
                "message_thrown", "message_caught", "instance_completed"}
# The incident hook resets this flag on newly ready tasks after escalating (IncidentHooks._escalate_upward).
ESCALATION_FLAG = "escalate_to_parent_org"
# Written by app.services.timers before the engine events of a timer firing (a driver, like a completion).
TIMERS_FIRED = "timers_fired"
# Events that end an instance where it stands (services.instances.stop_instance): nothing is active after them.
STOP_EVENTS = ("instance_cancelled", "instance_withdrawn")


def require_auditor(user: User) -> None:
    """Audit views are for auditors and administrators."""
    if not user.in_group(*AUDIT_GROUPS):
        raise Forbidden(_("Only auditors and administrators may use the audit views."))


def record_view(user: User, endpoint: str, instance: ProcessInstance | None = None,
                filters: dict[str, Any] | None = None) -> AuditView:
    """Log one audit view (not on the instance's chain: looking changes nothing)."""
    view = AuditView(user_id=user.id, endpoint=endpoint, instance_id=instance.id if instance else None,
                     filters={k: v for k, v in (filters or {}).items() if v not in (None, "")})
    db.session.add(view)
    db.session.flush()
    return view


def audit_views(actor: User, username: str | None = None, page: int = 1,
                per_page: int = 50) -> tuple[list[AuditView], bool]:
    """The audit view log, newest first, one page (and whether there is a next one)."""
    require_auditor(actor)
    stmt = select(AuditView).order_by(AuditView.created_at.desc(), AuditView.id.desc())
    if username:
        stmt = stmt.where(AuditView.user_id.in_(select(User.id).where(User.username == username)))
    rows = list(db.session.scalars(stmt.offset((max(page, 1) - 1) * per_page).limit(per_page + 1)))
    return rows[:per_page], len(rows) > per_page


# --- search -----------------------------------------------------------------------------------------

def search(actor: User, flt: InstanceFilter, page: int = 1, per_page: int = 50) -> tuple[list[ProcessInstance], bool]:
    """One page of matching instances and whether there is a next page (no count over everything)."""
    require_auditor(actor)
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    rows = list(db.session.scalars(search_query(flt).offset((max(page, 1) - 1) * per_page).limit(per_page + 1)))
    return rows[:per_page], len(rows) > per_page


def get_instance(instance_id: int, actor: User) -> ProcessInstance:
    require_auditor(actor)
    return require_instance(instance_id)


# --- replay -----------------------------------------------------------------------------------------

def _events(instance: ProcessInstance) -> list[Event]:
    return list(db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)))


def _iso(at: datetime) -> str:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def fold_steps(events: list[Event], users: dict[int, str], orgs: dict[int, str]) -> list[dict[str, Any]]:
    """One step per event: the cumulative highlight state after it, and what the event itself carries."""
    completed: list[str] = []
    done: set[str] = set()
    active: dict[str, str] = {}  # task guid -> element id, in the order they became ready
    flows: list[str] = []
    taken: set[str] = set()
    steps = []

    def take(flow: str | None) -> None:
        if flow and flow not in taken:
            taken.add(flow)
            flows.append(flow)

    for ev in events:
        data = ev.data or {}
        if ev.type in ("element_completed", "task_completed"):
            if ev.spec_id and ev.spec_id not in done:
                done.add(ev.spec_id)
                completed.append(ev.spec_id)
            active.pop(ev.task_guid or "", None)
            take(data.get("flow"))
        elif ev.type == "task_ready":
            active[ev.task_guid or ""] = ev.spec_id or ""
            take(data.get("flow"))
        elif ev.type in ("task_cancelled", *STOP_EVENTS):
            if ev.type in STOP_EVENTS:
                active.clear()
            else:
                active.pop(ev.task_guid or "", None)
        step: dict[str, Any] = {
            "seq": ev.seq, "type": ev.type, "element": ev.spec_id, "name": data.get("name"),
            "at": _iso(ev.created_at), "actor": users.get(ev.actor_id) if ev.actor_id else None,
            "organisation": orgs.get(ev.organisation_id) if ev.organisation_id else None,
            "completed": list(completed), "active": sorted(set(active.values())), "flows": list(flows),
            "form_data": data.get("form_data"), "changes": data.get("changes"), "decision": None, "detail": None,
        }
        if ev.type == "decision_evaluated":
            step["decision"] = {"decision_id": data.get("decision_id"), "inputs": data.get("inputs"),
                                "outputs": data.get("outputs"), "matched": data.get("matched"),
                                "hit_policy": data.get("hit_policy")}
        elif ev.type not in ("element_completed", "task_completed"):
            detail = {k: v for k, v in data.items() if k not in ("name", "element_type")}
            step["detail"] = detail or None
        steps.append(step)
    return steps


def replay_data(instance: ProcessInstance) -> dict[str, Any]:
    """Everything the replay page needs: the version's BPMN, the steps, the linked instances."""
    events = _events(instance)
    user_ids = {e.actor_id for e in events if e.actor_id}
    users = dict(db.session.execute(select(User.id, User.username).where(User.id.in_(user_ids))).all()) \
        if user_ids else {}
    orgs = dict(db.session.execute(select(Organisation.id, Organisation.code)).all())
    version = db.session.scalar(select(ProcessVersion).where(ProcessVersion.id == instance.version_id))
    links = []
    link_times = {}
    for ev in events:
        if ev.type == "link_created":
            other = (ev.data or {}).get("to") or (ev.data or {}).get("from")
            link_times.setdefault(other, _iso(ev.created_at))
    rows = db.session.scalars(select(InstanceLink).where(
        (InstanceLink.source_id == instance.id) | (InstanceLink.target_id == instance.id)).order_by(InstanceLink.id))
    for link in rows:
        other = link.target if link.source_id == instance.id else link.source
        links.append({"direction": "out" if link.source_id == instance.id else "in", "message": link.message,
                      "instance_id": other.id, "business_key": other.business_key,
                      "process_id": other.process_id,
                      # When the link was recorded (after both instances' link events): the other
                      # instance's replay opens there.
                      "at": _iso(link.created_at), "here": link_times.get(other.business_key)})
    return {
        "instance": instance_summary(instance),
        "bpmn_xml": version.bpmn_xml if version else "",
        "steps": fold_steps(events, users, orgs),
        "links": links,
    }


def step_at(steps: list[dict[str, Any]], at: str | None) -> int:
    """Index of the last step at or before an ISO time (0 when none or no time given)."""
    if not at or not steps:
        return 0
    try:
        when = datetime.fromisoformat(at)
    except ValueError:
        return 0
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    index = 0
    for i, step in enumerate(steps):
        if datetime.fromisoformat(step["at"]) <= when:
            index = i
    return index


# --- verification -----------------------------------------------------------------------------------

def verify(instance: ProcessInstance) -> dict[str, Any]:
    """The hash chain check (reads only)."""
    ok, problem = verify_instance(instance)
    return {"consistent": ok, "problem": problem}


# --- re-execution -----------------------------------------------------------------------------------

@dataclass
class Reexecution:
    consistent: bool
    steps: int = 0
    problem: str | None = None
    seq: int | None = None  # the recorded event where they first differ
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"consistent": self.consistent, "steps": self.steps, "problem": self.problem, "seq": self.seq,
                "details": self.details}


class _Diverged(Exception):
    def __init__(self, problem: str, seq: int | None = None, **details: Any):
        super().__init__(problem)
        self.problem, self.seq, self.details = problem, seq, details


def _norm(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str))


def _recorded_kind(ev: Event) -> str:
    return {"task_completed": "element_completed", "instance_completed": "workflow_completed"}.get(ev.type, ev.type)


def _compare(rec: Event, new: StepEvent, guid_map: dict[str, str]) -> None:
    """Raise _Diverged when the re-executed engine event does not match the recorded one."""
    kind = _recorded_kind(rec)
    if new.kind != kind or (kind not in ("message_thrown", "message_caught", "workflow_completed")
                            and new.spec_id != rec.spec_id):
        raise _Diverged(f"event #{rec.seq}: recorded {rec.type} {rec.spec_id or ''}, "
                        f"re-execution did {new.kind} {new.spec_id or ''}".strip(), rec.seq,
                        recorded={"type": rec.type, "element": rec.spec_id},
                        reexecuted={"type": new.kind, "element": new.spec_id})
    data = rec.data or {}
    if kind in ("element_completed", "task_ready"):
        if data.get("flow") != new.flow_id:
            raise _Diverged(f"event #{rec.seq}: {rec.spec_id} was reached by flow {data.get('flow')}, "
                            f"re-execution took {new.flow_id}", rec.seq)
        if rec.task_guid and new.guid:
            guid_map[rec.task_guid] = new.guid
    if kind == "element_completed" and _norm(data.get("changes") or {}) != _norm(new.detail.get("changes") or {}):
        raise _Diverged(f"event #{rec.seq}: {rec.spec_id} changed different data", rec.seq,
                        recorded=data.get("changes"), reexecuted=_norm(new.detail.get("changes")))
    if kind == "decision_evaluated":
        for key in ("decision_id", "inputs", "outputs", "matched"):
            if _norm(data.get(key)) != _norm(new.detail.get(key)):
                raise _Diverged(f"event #{rec.seq}: decision {data.get('decision_id')} {key} differ", rec.seq,
                                recorded=data.get(key), reexecuted=_norm(new.detail.get(key)))
    if kind in ("message_thrown", "message_caught"):
        if data.get("name") != new.detail.get("name") or \
                _norm(data.get("payload")) != _norm(new.detail.get("payload")):
            raise _Diverged(f"event #{rec.seq}: message {data.get('name')} differs", rec.seq)


def _apply_hooks(process_id: str, run: ProcessRun) -> None:
    """Workflow-data changes the application makes between engine steps.

    Only the incident's upward escalation touches workflow data: IncidentHooks resets
    `escalate_to_parent_org` on the newly ready tasks (whether or not a parent organisation exists).
    We re-apply that same rule here rather than ignore the key, so the final data comparison stays exact.
    """
    if process_id == "incident" and any(t.data.get(ESCALATION_FLAG) for t in run.newly_ready()):
        run.update_ready_data({ESCALATION_FLAG: False})


def _fire_recorded_timers(run: ProcessRun, rec: Event) -> None:
    """Fire the timers the record says fired.

    Timers in the fresh run were set relative to the re-execution's own clock, so the recorded `now` cannot
    be reused: the run is advanced to the latest due time of the recorded elements instead, and the set of
    timers that fire must equal the recorded one."""
    wanted = sorted((rec.data or {}).get("elements") or [])
    due = dict(run.due_timers())
    missing = [e for e in wanted if e not in due]
    if missing:
        raise _Diverged(f"event #{rec.seq}: timer {', '.join(missing)} was not waiting on re-execution", rec.seq)
    fired = run.fire_timers(max(due[e] for e in wanted)) if wanted else []
    if sorted(fired) != wanted:
        raise _Diverged(f"event #{rec.seq}: timers {wanted} fired in the record, {sorted(fired)} on re-execution",
                        rec.seq)


def reexecute(instance: ProcessInstance) -> Reexecution:
    """Replay the recorded completions and message deliveries through the recorded version in a fresh run,
    compare every engine event with the record and the final data with the stored state."""
    from .instances import connectors

    events = _events(instance)
    if not events or events[0].type != "instance_started":
        return Reexecution(False, 0, "the log does not begin with instance_started", events[0].seq if events else None)
    compiled = compiled_for(instance.version)
    started = events[0].data or {}
    conns = connectors(instance.organisation_id)
    recorded = [e for e in events if e.type in ENGINE_TYPES or e.type == TIMERS_FIRED]
    guid_map: dict[str, str] = {}
    i = 0
    actions = 0
    try:
        try:
            run = ProcessRun.start(compiled, started.get("start_data") or {}, conns,
                                   context={"business_key": instance.business_key, "process_id": instance.process_id})
        except EngineError as exc:
            raise _Diverged(f"the start failed on re-execution: {exc}", 1) from None
        while True:
            _apply_hooks(instance.process_id, run)
            for new in run.take_events():
                if i >= len(recorded):
                    raise _Diverged(f"re-execution did {new.kind} {new.spec_id or ''} after the last recorded "
                                    f"event".strip(), None)
                rec = recorded[i]
                if rec.type == TIMERS_FIRED:
                    raise _Diverged(f"event #{rec.seq}: recorded timers firing, re-execution did {new.kind} "
                                    f"{new.spec_id or ''} first".strip(), rec.seq)
                if rec.type in ("task_completed", "message_caught") and new.kind != _recorded_kind(rec):
                    raise _Diverged(f"event #{rec.seq}: recorded {rec.type}, re-execution did {new.kind} "
                                    f"{new.spec_id or ''} first".strip(), rec.seq)
                _compare(rec, new, guid_map)
                i += 1
            if i >= len(recorded):
                break
            rec = recorded[i]
            data = rec.data or {}
            actions += 1
            try:
                if rec.type == "task_completed":
                    guid = guid_map.get(rec.task_guid or "")
                    if guid is None:
                        raise _Diverged(f"event #{rec.seq}: task {rec.spec_id} was never ready on re-execution",
                                        rec.seq)
                    run.complete(guid, data.get("form_data") or {})
                elif rec.type == "message_caught":
                    run.deliver(data.get("name") or "", data.get("payload") or {})
                elif rec.type == TIMERS_FIRED:
                    i += 1  # the firing itself; the engine events it caused follow in the record
                    _fire_recorded_timers(run, rec)
                else:
                    raise _Diverged(f"event #{rec.seq}: recorded {rec.type} {rec.spec_id or ''}, re-execution "
                                    f"waits for a task or a message".strip(), rec.seq)
            except (EngineError, TaskNotReady) as exc:
                raise _Diverged(f"event #{rec.seq}: re-execution could not do {rec.type} {rec.spec_id or ''}: "
                                f"{exc}", rec.seq) from None
            except Exception as exc:  # NotWaiting and engine surprises are divergences too
                if isinstance(exc, _Diverged):
                    raise
                raise _Diverged(f"event #{rec.seq}: re-execution could not do {rec.type}: {exc!r}", rec.seq) from None
        stored = _norm(ProcessRun.load(compiled, instance.state).data())
        final = _norm(run.data())
        if stored != final:
            keys = sorted(k for k in set(stored) | set(final) if stored.get(k) != final.get(k))
            raise _Diverged("the final data differs from the stored state in: " + ", ".join(keys), None,
                            keys=keys, stored={k: stored.get(k) for k in keys},
                            reexecuted={k: final.get(k) for k in keys})
    except _Diverged as exc:
        return Reexecution(False, actions, exc.problem, exc.seq, _norm(exc.details))
    return Reexecution(True, actions)


# --- export -----------------------------------------------------------------------------------------

CSV_FIELDS = ["seq", "type", "spec_id", "task_guid", "actor", "organisation", "created_at", "data", "prev_hash",
              "hash"]


def _event_rows(events: list[Event], users: dict[int, str], orgs: dict[int, str]) -> list[dict[str, Any]]:
    return [{"seq": e.seq, "type": e.type, "spec_id": e.spec_id, "task_guid": e.task_guid,
             "actor": users.get(e.actor_id) if e.actor_id else None, "actor_id": e.actor_id,
             "organisation": orgs.get(e.organisation_id) if e.organisation_id else None,
             "organisation_id": e.organisation_id, "created_at": _iso(e.created_at), "data": e.data,
             "prev_hash": e.prev_hash, "hash": e.hash} for e in events]


def _add_instance(zf: zipfile.ZipFile, folder: str, instance: ProcessInstance, users: dict[int, str],
                  orgs: dict[int, str], seen_versions: set[int]) -> dict[str, Any]:
    events = _events(instance)
    rows = _event_rows(events, users, orgs)
    zf.writestr(f"{folder}events.json", json.dumps(rows, ensure_ascii=False, indent=1))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        # A text a spreadsheet would run as a formula (a username or code starting with "=") gets a leading
        # apostrophe, as in the other CSV exports; events.json keeps the values exactly as recorded.
        cells = {**row, "data": json.dumps(row["data"], ensure_ascii=False, sort_keys=True)}
        writer.writerow({k: csv_cell(cells.get(k)) for k in CSV_FIELDS})
    zf.writestr(f"{folder}events.csv", buf.getvalue())
    version = db.session.scalar(select(ProcessVersion).where(ProcessVersion.id == instance.version_id))
    definition = f"definitions/{version.process_id}-v{version.version}/"
    if version.id not in seen_versions:
        seen_versions.add(version.id)
        zf.writestr(definition + version.bpmn_name, version.bpmn_xml)
        for name, text in (version.files or {}).items():
            zf.writestr(definition + name, text if isinstance(text, str) else json.dumps(text, ensure_ascii=False))
    files = []
    for att in db.session.scalars(select(CaseAttachment).where(CaseAttachment.instance_id == instance.id)
                                  .order_by(CaseAttachment.id)):
        # The digest is also on the note's event: the package's files can be checked against its chain.
        path = f"{folder}attachments/{att.event_seq}-{att.id}-{att.filename}"
        zf.writestr(path, att.data)
        files.append({"event_seq": att.event_seq, "filename": att.filename, "sha256": att.sha256, "path": path,
                      "internal": att.internal})
    result = {**instance_summary(instance), "definition": definition, "events": len(events), "attachments": files,
              "verification": verify(instance), "reexecution": reexecute(instance).as_dict()}
    zf.writestr(f"{folder}results.json", json.dumps(result, ensure_ascii=False, indent=1))
    return result


def export_package(instances_: list[ProcessInstance], filters: dict[str, Any] | None = None) -> bytes:
    """A zip: per instance events.json, events.csv, results.json (verification, re-execution), the files
    attached to notes under attachments/; the
    definition files (BPMN, DMN, forms) of each version used once under definitions/; an index."""
    users = dict(db.session.execute(select(User.id, User.username)).all())
    orgs = dict(db.session.execute(select(Organisation.id, Organisation.code)).all())
    out = io.BytesIO()
    seen: set[int] = set()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        results = [_add_instance(zf, f"instances/{inst.business_key}/", inst, users, orgs, seen)
                   for inst in instances_]
        zf.writestr("index.json", json.dumps({
            "generated_at": datetime.now(UTC).isoformat(), "filters": filters or {}, "instances": results},
            ensure_ascii=False, indent=1))
    return out.getvalue()


def export_instances(actor: User, flt: InstanceFilter) -> list[ProcessInstance]:
    """The instances a filtered export covers (at most MAX_EXPORT; refuses more)."""
    require_auditor(actor)
    rows = list(db.session.scalars(search_query(flt).limit(MAX_EXPORT + 1)))
    if len(rows) > MAX_EXPORT:
        raise ValidationFailed(_("Too many cases for one package; narrow the search."),
                               {"q": [_("At most %(n)s cases per package.", n=MAX_EXPORT)]})
    return rows
