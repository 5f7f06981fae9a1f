"""Drive an incident through a path of tests/support.PATHS with service calls (shared by audit tests)."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask, ProcessInstance, User
from app.services import incident, instances
from tests.integration.helpers import worker_for
from tests.support import PATHS


def drive(path: str, steps: int | None = None, commit: bool = True) -> ProcessInstance:
    """Record an incident as the desk and take the path's steps (all, or the first `steps`), committing each
    (in tests a commit is a savepoint, so a later request's rollback keeps the case)."""
    start, todo = PATHS[path]
    desk = db.session.scalar(select(User).where(User.username == "desk"))
    reporter = db.session.scalar(select(User).where(User.username == "reporter"))
    instance = incident.record_incident(desk, start, requester=reporter)
    db.session.flush()
    for step in todo[:steps]:
        if step[0] == "message":
            _, name, payload = step
            instances.deliver_message(instance, name, {**payload, "reply_to": instance.business_key}, None)
        else:
            spec_id, data = step
            task = db.session.scalar(select(HumanTask).where(
                HumanTask.instance_id == instance.id, HumanTask.state == "ready", HumanTask.spec_id == spec_id))
            assert task is not None, spec_id
            actor = db.session.scalar(select(User).where(User.username == worker_for(task)))
            instances.complete_task(task.id, actor, data)
        if commit:
            db.session.commit()
        else:
            db.session.flush()
    return db.session.get(ProcessInstance, instance.id)
