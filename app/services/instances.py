"""Process instances: start, complete, claim; the human-task projection and the event log."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, case, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Query, joinedload
from sqlalchemy.orm.exc import StaleDataError

from ..engine.runtime import EngineError, ProcessRun, StepEvent, TaskNotReady
from ..extensions import db
from ..models import (
    BusinessKeyCounter,
    DueTimer,
    Group,
    HumanTask,
    Organisation,
    PendingMessage,
    ProcessInstance,
    User,
    UserGroup,
)
from ..models.base import utcnow
from . import dispatch, forms, notifications
from .audit import append_event
from .definitions import compiled_for, require_latest
from .errors import Conflict, Forbidden, NotFound, ProcessFailed

REQUESTER_LANE = "requester"
# Readable business-key prefixes per process.
PREFIXES = {
    "incident": "INC", "problem": "PRB", "change": "CHG", "emergency_change": "ECH", "release": "REL",
    "configuration": "CFG", "service_level": "SLM", "continuity": "BCM", "security": "SEC",
    "knowledge": "KNW", "service_desk": "SD",
}
FALLBACK_GROUP = "service_desk"


class ProcessHooks(Protocol):
    """Process-specific behaviour around the generic runtime (one implementation per process module)."""

    prefix: str

    def on_start(self, instance: ProcessInstance, run: ProcessRun, actor: User | None, data: dict) -> None: ...

    def after_step(self, instance: ProcessInstance, run: ProcessRun, actor: User | None) -> None: ...

    # Optional: on_cancelled(instance) when an administrator cancels an instance of the process.


HOOKS: dict[str, ProcessHooks] = {}


def register(process_id: str, hooks: ProcessHooks) -> None:
    """Attach process-specific hooks to a process id."""
    HOOKS[process_id] = hooks


def next_business_key(prefix: str, now: datetime | None = None) -> str:
    """Readable, gap-free per-day key such as INC-20261125-0001."""
    tz = ZoneInfo(current_app.config.get("BUSINESS_KEY_TIMEZONE", "Asia/Shanghai"))
    day = (now or utcnow()).astimezone(tz).strftime("%Y%m%d")
    key = f"{prefix}-{day}"
    for _attempt in range(3):
        value = db.session.execute(
            update(BusinessKeyCounter).where(BusinessKeyCounter.key == key)
            .values(value=BusinessKeyCounter.value + 1).returning(BusinessKeyCounter.value)
        ).scalar()
        if value is not None:
            return f"{key}-{value:04d}"
        try:
            with db.session.begin_nested():
                db.session.add(BusinessKeyCounter(key=key, value=1))
            return f"{key}-0001"
        except IntegrityError:
            continue  # another transaction created today's counter first; increment it instead
    raise Conflict(_("Could not allocate a case number; please retry."))


def _eligible(user: User, task: HumanTask) -> bool:
    """Is the task offered to this user (their group in their organisation), whoever holds it now?"""
    if user.in_group("auditor"):
        return False
    return task.candidate_group in user.group_codes and task.organisation_id == user.organisation_id


def can_complete(user: User, task: HumanTask) -> bool:
    """May this user work on (claim or complete) the task?"""
    if task.state != "ready" or user.in_group("auditor"):
        return False
    if task.assignee_id is not None:
        return task.assignee_id == user.id
    return _eligible(user, task)


def can_view_instance(user: User, instance: ProcessInstance) -> bool:
    """Participants, their organisation's staff and the levels above, auditors and administrators."""
    if user.in_group("auditor", "administrator"):
        return True
    if instance.requester_id == user.id or instance.created_by_id == user.id:
        return True
    if not user.memberships:
        return False
    if instance.organisation_id == user.organisation_id:
        return True
    org = db.session.get(Organisation, instance.organisation_id)
    return any(a.id == user.organisation_id for a in (org.ancestors() if org else []))


# Who may start a process by hand (instances started by another process's message are not checked here).
# A process not listed may be started by any staff member (anyone in a group other than auditor).
STARTERS: dict[str, set[str]] = {
    "incident": set(),  # anyone may report a fault
    "service_desk": {"service_desk"},
}


def _check_may_start(process_id: str, actor: User) -> None:
    from .change import PROCESS_ID as CHANGE
    from .change import REQUESTER_GROUPS

    groups = actor.group_codes
    if groups == {"auditor"}:
        raise Forbidden(_("Auditors have read-only access."))
    allowed = REQUESTER_GROUPS if process_id == CHANGE else STARTERS.get(process_id)
    if allowed is None:
        allowed = groups - {"auditor"}  # any staff member
        if not allowed:
            raise Forbidden(_("You may not start this process."))
        return
    if allowed and not groups & allowed:
        raise Forbidden(_("You may not start this process."))


def _hooks(process_id: str) -> ProcessHooks | None:
    return HOOKS.get(process_id)


def start_instance(
    process_id: str,
    actor: User,
    data: dict[str, Any],
    *,
    organisation: Organisation | None = None,
    requester: User | None = None,
    validate_form: bool = True,
    started_by: dict[str, Any] | None = None,
    depth: int = 0,
) -> ProcessInstance:
    """Start the latest version of a process with validated start-form data."""
    if started_by is None:
        _check_may_start(process_id, actor)
    version = require_latest(process_id)
    compiled = compiled_for(version)
    if compiled.start_form and validate_form:
        forms.validate(compiled.forms[compiled.start_form], data)
    hooks = _hooks(process_id)
    prefix = hooks.prefix if hooks else PREFIXES.get(process_id, process_id[:3].upper())
    organisation_id = organisation.id if organisation is not None else actor.organisation_id
    business_key = next_business_key(prefix)
    try:
        run = ProcessRun.start(compiled, data, connectors(organisation_id),
                               context={"business_key": business_key, "process_id": process_id})
    except EngineError as exc:
        raise ProcessFailed(str(exc), element_id=exc.element_id) from None
    instance = ProcessInstance(
        version=version,
        version_id=version.id,
        process_id=process_id,
        business_key=business_key,
        organisation_id=organisation_id,
        created_by_id=actor.id,
        requester_id=requester.id if requester else None,
        status="running",
        state=b"",
    )
    # No autoflush until the end: the instance is inserted once, complete with its state and events.
    with db.session.no_autoflush:
        if hooks:
            hooks.on_start(instance, run, actor, data)
        db.session.add(instance)
        append_event(instance, "instance_started", actor=actor, data={
            "process_id": process_id, "version": version.version, "business_key": instance.business_key,
            "start_data": data, **({"started_by": started_by} if started_by else {}),
        })
        thrown = _apply(instance, run, actor)
        _save(instance, run)
    _after_save(instance, run, actor, thrown, depth)
    return instance


# The instance, its version and organisation come with the task in one round trip: every caller needs the
# instance, completing needs the version's compiled spec, and the answer names both.
_TASK_LOADS = (joinedload(HumanTask.instance).joinedload(ProcessInstance.version),
               joinedload(HumanTask.instance).joinedload(ProcessInstance.organisation))


def _load_task(task_id: int, *, ready: bool = True) -> HumanTask:
    """The task, or NotFound; with ready=True also Conflict when it is no longer open."""
    task = db.session.get(HumanTask, task_id, options=_TASK_LOADS)
    if task is None:
        raise NotFound(_("Task %(id)s does not exist.", id=task_id))
    if ready and task.state != "ready":
        raise Conflict(_("This task has already been handled (%(state)s).", state=task.state), state=task.state)
    return task


def complete_task(task_id: int, actor: User, data: dict[str, Any]) -> ProcessInstance:
    """Complete a ready human task with form data, run the engine to the next wait state, persist."""
    task = _load_task(task_id)
    if not can_complete(actor, task):
        raise Forbidden(_("You may not complete this task."))
    instance = task.instance
    compiled = compiled_for(instance.version)
    schema = compiled.forms.get(task.form_file or "")
    if schema is not None:
        # Read-only fields the system fills (e.g. the desk member's tier) override whatever was posted.
        data = {**data, **forms.system_values(schema, actor)}
        forms.validate(schema, data)
    run = ProcessRun.load(compiled, instance.state, connectors(instance.organisation_id))
    try:
        run.complete(task.task_guid, data)
    except TaskNotReady:
        raise Conflict(_("This task has already been handled (%(state)s).", state="completed")) from None
    except EngineError as exc:
        raise ProcessFailed(str(exc), element_id=exc.element_id) from None
    task.state = "completed"
    task.completed_at = utcnow()
    task.completed_by_id = actor.id
    if task.assignee_id is None:
        task.assignee_id = actor.id
    _finish(instance, run, actor, (task.task_guid, data), 0)
    return instance


def _finish(instance: ProcessInstance, run: ProcessRun, actor: User | None,
            submitted: tuple[str, dict] | None, depth: int) -> None:
    """After an engine step: hooks, events and task projection, one flush, then route messages."""
    # No autoflush while the step is recorded: a concurrent writer must surface at our flush, as a
    # conflict, not half-way through a hook's query.
    with db.session.no_autoflush:
        hooks = _hooks(instance.process_id)
        if hooks:
            hooks.after_step(instance, run, actor)
        thrown = _apply(instance, run, actor, submitted=submitted)
        after_apply = getattr(hooks, "after_apply", None)
        if after_apply is not None:  # the step's tasks are projected now (e.g. SLA due dates)
            after_apply(instance, run, actor)
    _save(instance, run)
    _after_save(instance, run, actor, thrown, depth)


def deliver_message(instance: ProcessInstance, name: str, payload: dict[str, Any], actor: User | None,
                    depth: int = 0) -> bool:
    """Deliver a message to an instance, or keep it until the instance waits for it; True if delivered."""
    run = ProcessRun.load(compiled_for(instance.version), instance.state, connectors(instance.organisation_id))
    if instance.status != "running" or name not in run.waiting_messages():
        db.session.add(PendingMessage(instance_id=instance.id, name=name, payload=payload))
        append_event(instance, "message_queued", actor=actor, data={"name": name, "payload": payload})
        _flush_instance()
        return False
    try:
        run.deliver(name, payload)
    except EngineError as exc:
        raise ProcessFailed(str(exc), element_id=exc.element_id) from None
    _finish(instance, run, actor, None, depth)
    return True


def _after_save(instance: ProcessInstance, run: ProcessRun, actor: User | None,
                thrown: list[tuple[str, dict]], depth: int) -> None:
    """Hand thrown messages to the router, then deliver replies that were waiting for this instance."""
    from . import messaging

    for name, payload in thrown:
        messaging.dispatch(instance, name, payload, actor, depth + 1)
    if instance.status != "running":
        return
    waiting = set(run.waiting_messages())
    if not waiting:
        return
    for pending in db.session.scalars(select(PendingMessage).where(
            PendingMessage.instance_id == instance.id, PendingMessage.delivered_at.is_(None),
            PendingMessage.name.in_(waiting)).order_by(PendingMessage.id).limit(1)):
        pending.delivered_at = utcnow()
        deliver_message(instance, pending.name, pending.payload, actor, depth + 1)


def connectors(organisation_id: int) -> dict[str, Any]:
    """Service-task operators the diagrams may call, bound to the instance's organisation."""

    def group_members(params: dict[str, Any]) -> list[str]:
        return sorted(db.session.scalars(
            select(User.username).join(UserGroup, UserGroup.user_id == User.id).join(Group)
            .where(Group.code == str(params.get("group")), User.organisation_id == organisation_id,
                   User.active.is_(True))))

    return {"group_members": group_members}


def _save(instance: ProcessInstance, run: ProcessRun) -> ProcessInstance:
    from . import timers

    instance.state = run.dump()
    _flush_instance()
    timers.sync(instance, run)  # the due-timer rows follow what the engine waits on now
    return instance


def _candidate(instance: ProcessInstance, meta: Any, data: dict[str, Any]) -> tuple[str | None, int | None]:
    """Group and assignee a new human task is offered to."""
    if meta is None:
        return FALLBACK_GROUP, None
    assignee_var = meta.properties.get("assigneeVariable")
    if assignee_var and data.get(assignee_var):
        user_id = db.session.scalar(select(User.id).where(User.username == str(data[assignee_var])))
        if user_id is not None:
            return meta.lane_id, user_id
    if meta.group_variable and data.get(meta.group_variable):
        return str(data[meta.group_variable]), None
    if meta.lane_id == REQUESTER_LANE:
        if instance.requester_id is not None:
            return None, instance.requester_id
        # Reported by phone or letter: the desk confirms with the customer on their behalf.
        return FALLBACK_GROUP, None
    return meta.lane_id, None


def _apply(
    instance: ProcessInstance,
    run: ProcessRun,
    actor: User | None,
    submitted: tuple[str, dict] | None = None,
) -> list[tuple[str, dict]]:
    """Write the engine's step events and project human tasks, in order; return the messages thrown."""
    pending: dict[str, HumanTask] = {}
    thrown: list[tuple[str, dict]] = []
    for ev in run.take_events():
        if ev.kind == "message_thrown":
            thrown.append((ev.detail["name"], ev.detail.get("payload") or {}))
        _record(instance, run, actor, ev, submitted, pending)
    return thrown


def _record(
    instance: ProcessInstance,
    run: ProcessRun,
    actor: User | None,
    ev: StepEvent,
    submitted: tuple[str, dict] | None,
    pending: dict[str, HumanTask],
) -> None:
    base = {"name": ev.name, "element_type": ev.element_type}
    if ev.kind == "element_completed":
        payload = {**base, "from": ev.from_id, "flow": ev.flow_id, "changes": ev.detail.get("changes", {})}
        if submitted and submitted[0] == ev.guid:
            payload["form_data"] = submitted[1]
            append_event(instance, "task_completed", actor=actor, spec_id=ev.spec_id, task_guid=ev.guid, data=payload)
        else:
            append_event(instance, "element_completed", spec_id=ev.spec_id, task_guid=ev.guid, data=payload,
                         organisation_id=instance.organisation_id)
    elif ev.kind == "decision_evaluated":
        append_event(instance, "decision_evaluated", spec_id=ev.spec_id, task_guid=ev.guid, data=ev.detail,
                     organisation_id=instance.organisation_id)
    elif ev.kind == "task_ready":
        meta = run.compiled.user_tasks.get(ev.spec_id or "")
        task_obj = run.task(ev.guid or "")
        data = task_obj.data if task_obj is not None else {}
        group, assignee = _candidate(instance, meta, data)
        dispatched = assignee is None and group is not None and (
            assignee := dispatch.pick(group, instance.organisation_id)) is not None
        human = HumanTask(
            instance=instance,
            task_guid=ev.guid,
            spec_id=ev.spec_id,
            name=ev.name or ev.spec_id,
            lane_id=meta.lane_id if meta else None,
            candidate_group=group,
            organisation_id=instance.organisation_id,
            assignee_id=assignee,
            priority=data.get("priority") or instance.priority,
            form_file=meta.form_file if meta else None,
        )
        db.session.add(human)
        pending[ev.guid or ""] = human
        if assignee is not None and (actor is None or assignee != actor.id):
            notifications.task_assigned(human)
        append_event(instance, "task_ready", spec_id=ev.spec_id, task_guid=ev.guid, data={
            **base, "from": ev.from_id, "flow": ev.flow_id, "candidate_group": group, "assignee_id": assignee,
            **({"dispatched": "least_loaded"} if dispatched else {}),
        }, organisation_id=instance.organisation_id)
    elif ev.kind == "task_cancelled":
        human = pending.get(ev.guid or "") or db.session.scalar(
            select(HumanTask).where(HumanTask.task_guid == ev.guid))
        if human is not None and human.state == "ready":
            human.state = "cancelled"
            human.completed_at = utcnow()
        append_event(instance, "task_cancelled", spec_id=ev.spec_id, task_guid=ev.guid, data=base,
                     organisation_id=instance.organisation_id)
    elif ev.kind in {"message_thrown", "message_caught"}:
        append_event(instance, ev.kind, data={"name": ev.detail["name"], "payload": ev.detail.get("payload")},
                     organisation_id=instance.organisation_id)
    elif ev.kind == "workflow_completed":
        instance.status = "completed"
        instance.completed_at = utcnow()
        if instance.requester_id is not None and (actor is None or instance.requester_id != actor.id):
            notifications.case_closed(instance)
        append_event(instance, "instance_completed", data={"business_key": instance.business_key},
                     organisation_id=instance.organisation_id)


def claim_task(task_id: int, actor: User) -> HumanTask:
    """Take an unassigned group task into one's own inbox."""
    task = _load_task(task_id)
    if not (_eligible(actor, task) or task.assignee_id == actor.id):
        raise Forbidden(_("You may not work on this task."))
    if task.assignee_id is not None:
        if task.assignee_id == actor.id:
            return task
        raise Conflict(_("Someone else has already claimed this task."))
    task.assignee_id = actor.id
    append_event(task.instance, "task_claimed", actor=actor, spec_id=task.spec_id, task_guid=task.task_guid,
                 data={"task_id": task.id})
    _flush_instance()
    return task


def unclaim_task(task_id: int, actor: User) -> HumanTask:
    """Give a claimed task back to its group."""
    task = _load_task(task_id)
    if task.assignee_id != actor.id:
        raise Forbidden(_("Only the assignee may release a task."))
    if task.lane_id == REQUESTER_LANE:
        raise Conflict(_("This task belongs to the requester and cannot be released."))
    task.assignee_id = None
    append_event(task.instance, "task_unclaimed", actor=actor, spec_id=task.spec_id, task_guid=task.task_guid,
                 data={"task_id": task.id})
    _flush_instance()
    return task


def stop_instance(instance: ProcessInstance, actor: User, event_type: str, data: dict[str, Any]) -> list[HumanTask]:
    """End a running instance where it stands (an administrator's cancellation, a requester's withdrawal).

    Its ready tasks are cancelled, its status becomes cancelled, the process's on_cancelled hook runs, its SLA
    clocks end as cancelled and its pending timers go; the event (with the cancelled tasks) is its last word.
    The workflow state is kept as it was: the record of where it stopped. The caller flushes."""
    from . import sla

    now = utcnow()
    tasks = list(db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                            HumanTask.state == "ready").order_by(HumanTask.id)))
    for task in tasks:
        task.state = "cancelled"
        task.completed_at = now
    instance.status = "cancelled"
    instance.completed_at = now
    on_cancelled = getattr(HOOKS.get(instance.process_id), "on_cancelled", None)
    if on_cancelled is not None:  # e.g. the incident record's own status
        on_cancelled(instance)
    sla.cancel_clocks(instance, now)
    # Its timers will never fire: their rows go (the sweep would only claim and skip them).
    db.session.execute(delete(DueTimer).where(DueTimer.instance_id == instance.id, DueTimer.fired.is_(False)))
    append_event(instance, event_type, actor=actor, data={**data, "cancelled_tasks": [
        {"task_id": t.id, "spec_id": t.spec_id, "task_guid": t.task_guid} for t in tasks]})
    return tasks


def _flush_instance() -> None:
    """Flush, turning a lost race into a conflict: either the version check or the event chain's
    (instance, seq) uniqueness catches a concurrent writer, depending on which statement runs first."""
    try:
        db.session.flush()
    except StaleDataError:
        raise Conflict(_("Someone else changed this case meanwhile; reload and try again.")) from None
    except IntegrityError as exc:
        if "uq_event_instance_id" not in str(exc.orig):
            raise
        raise Conflict(_("Someone else changed this case meanwhile; reload and try again.")) from None


@dataclass
class InboxFilter:
    """What the inbox asks for."""

    scope: str = "all"  # mine | groups | all
    process_id: str | None = None
    priority: str | None = None
    state: str = "ready"


# Many-to-one rows joined into the one query; the people's groups only if someone asks; the workflow state
# is not needed for a list. Loader options are immutable, so they are built once, not per request.
_INBOX_LOADS = (
    joinedload(HumanTask.instance).defer(ProcessInstance.state), joinedload(HumanTask.organisation),
    joinedload(HumanTask.assignee).lazyload(User.memberships),
    joinedload(HumanTask.completed_by).lazyload(User.memberships),
)


def inbox_query(user: User, flt: InboxFilter) -> Query:
    """Tasks the user may see: assigned to them, or offered to their groups in their organisation."""
    stmt = _inbox_statement(flt.scope, bool(flt.state), bool(flt.process_id), bool(flt.priority))
    return stmt.params(user_id=user.id, groups=sorted(user.group_codes) or ["-"], organisation_id=user.organisation_id,
                       state=flt.state, process_id=flt.process_id, priority=flt.priority, now=utcnow())


@lru_cache(maxsize=32)
def _inbox_statement(scope: str, by_state: bool, by_process: bool, by_priority: bool) -> Query:
    """The inbox query of one shape, with bound parameters (built once: building it cost as much as running it,
    and a statement built once also keeps its cache key)."""
    mine = HumanTask.assignee_id == bindparam("user_id")
    groups = (HumanTask.candidate_group.in_(bindparam("groups", expanding=True))) & (
        HumanTask.organisation_id == bindparam("organisation_id"))
    visible = {"mine": mine, "groups": groups}.get(scope, mine | groups)
    stmt = select(HumanTask).where(visible)
    if by_state:
        stmt = stmt.where(HumanTask.state == bindparam("state"))
    if by_process:
        stmt = stmt.join(ProcessInstance).where(ProcessInstance.process_id == bindparam("process_id"))
    if by_priority:
        stmt = stmt.where(HumanTask.priority == bindparam("priority"))
    overdue = case((HumanTask.due_at < bindparam("now"), 0), else_=1)
    return stmt.options(*_INBOX_LOADS).order_by(
        overdue, HumanTask.priority.is_(None), HumanTask.priority, HumanTask.created_at)


def inbox_counts(user: User) -> dict[str, int]:
    """Ready tasks assigned to the user and offered to their groups."""
    groups = (HumanTask.candidate_group.in_(user.group_codes or {"-"})) & (
        HumanTask.organisation_id == user.organisation_id) & HumanTask.assignee_id.is_(None)
    mine = db.session.scalar(select(func.count()).where(HumanTask.state == "ready", HumanTask.assignee_id == user.id))
    grp = db.session.scalar(select(func.count()).where(HumanTask.state == "ready", groups))
    return {"mine": mine or 0, "groups": grp or 0}


def require_instance(instance_id: int) -> ProcessInstance:
    """The instance, or NotFound (callers check who may see or change it)."""
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None:
        raise NotFound(_("Case %(id)s does not exist.", id=instance_id))
    return instance


def get_instance(instance_id: int, actor: User) -> ProcessInstance:
    """An instance the actor may see."""
    instance = require_instance(instance_id)
    if not can_view_instance(actor, instance):
        raise Forbidden(_("You may not see this case."))
    return instance


def open_tasks(instance: ProcessInstance) -> list[HumanTask]:
    """The instance's ready human tasks, oldest first."""
    return list(db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance.id, HumanTask.state == "ready").order_by(HumanTask.id)))


def get_task(task_id: int, actor: User) -> HumanTask:
    """A task the actor may see (workers of it, and those who may see its instance)."""
    task = _load_task(task_id, ready=False)
    if not (can_complete(actor, task) or task.assignee_id == actor.id or can_view_instance(actor, task.instance)):
        raise Forbidden(_("You may not see this task."))
    return task


def task_form(task: HumanTask) -> dict[str, Any] | None:
    """The JSON Schema of a task's form, from the task's own process version."""
    return compiled_for(task.instance.version).forms.get(task.form_file or "")


def task_data(task: HumanTask) -> dict[str, Any]:
    """Current data of a ready task (deserialises the instance: task pages only, never lists)."""
    compiled = compiled_for(task.instance.version)
    run = ProcessRun.load(compiled, task.instance.state)
    t = run.task(task.task_guid)
    return dict(t.data) if t is not None else run.data()


def waiting_messages(instance: ProcessInstance) -> list[str]:
    """Messages the instance waits for now."""
    return ProcessRun.load(compiled_for(instance.version), instance.state).waiting_messages()

