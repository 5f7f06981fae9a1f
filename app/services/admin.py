"""Manual interventions by administrators; each is an event on the instance's chain."""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import select

from ..extensions import db
from ..models import HumanTask, ProcessInstance, User
from . import notifications
from .audit import append_event
from .errors import Conflict, Forbidden, ValidationFailed
from .instances import _flush_instance, _load_task, require_instance, stop_instance


def _require_admin(actor: User) -> None:
    if not actor.in_group("administrator"):
        raise Forbidden(_("Only administrators may do this."))


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(_("Give a reason."), {"reason": [_("A reason is required.")]})
    return text[:500]


def reassign_task(task_id: int, actor: User, assignee_username: str, reason: str | None) -> HumanTask:
    """Give a ready task to another user (who must be active); writes task_reassigned."""
    _require_admin(actor)
    text = _reason(reason)
    task = _load_task(task_id)
    assignee = db.session.scalar(select(User).where(User.username == (assignee_username or "").strip()))
    if assignee is None or not assignee.active:
        raise ValidationFailed(_("Unknown user."), {"assignee": [_("No active user with this name.")]})
    if assignee.in_group("auditor") and len(assignee.memberships) == 1:
        raise ValidationFailed(_("Auditors cannot work on tasks."),
                               {"assignee": [_("Auditors have read-only access.")]})
    previous = task.assignee.username if task.assignee else None
    task.assignee_id = assignee.id
    append_event(task.instance, "task_reassigned", actor=actor, spec_id=task.spec_id, task_guid=task.task_guid,
                 data={"task_id": task.id, "name": task.name, "from": previous, "to": assignee.username,
                       "reason": text})
    notifications.task_assigned(task)
    _flush_instance()
    return task


def cancel_instance(instance_id: int, actor: User, reason: str | None) -> ProcessInstance:
    """Stop a running instance: its ready tasks are cancelled, its status becomes cancelled; writes
    instance_cancelled with the reason. The workflow state is kept as it was (the record of where it stopped)."""
    _require_admin(actor)
    text = _reason(reason)
    instance = require_instance(instance_id)
    if instance.status != "running":
        raise Conflict(_("Only running cases can be cancelled."), state=instance.status)
    stop_instance(instance, actor, "instance_cancelled", {"reason": text})
    _flush_instance()
    return instance
