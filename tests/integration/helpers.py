"""Drive incident paths over HTTP as the demo user who may do each task."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask, Organisation, User
from app.services.demo import USERS


def worker_for(task: HumanTask) -> str:
    """The demo username that may work on a ready task."""
    if task.assignee_id is not None:
        return db.session.get(User, task.assignee_id).username
    org = db.session.get(Organisation, task.organisation_id).code
    for username, _name, org_code, groups, _tier in USERS:
        if org_code == org and task.candidate_group in groups:
            return username
    raise AssertionError(f"no demo user for {task.candidate_group} at {org}")


def ready_task(instance_id: int) -> HumanTask:
    tasks = db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "ready")).all()
    assert len(tasks) == 1, [t.spec_id for t in tasks]
    return tasks[0]


def form_post(data: dict) -> dict:
    """JSON form data as an HTML form would send it (booleans as true/false, lists repeated)."""
    out: dict = {}
    for key, value in data.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, row in enumerate(value):  # a table widget: <name>-<row>-<field>
                for field, cell in row.items():
                    out[f"{key}-{i}-{field}"] = str(cell)
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif value is None:
            continue
        else:
            out[key] = str(value)
    return out


def deliver_reply(instance_id: int, name: str, payload: dict) -> None:
    """Stand in for the linked process finishing: deliver its reply to the waiting instance."""
    from app.models import ProcessInstance
    from app.services import instances

    instance = db.session.get(ProcessInstance, instance_id)
    assert name in instances.waiting_messages(instance), (name, instances.waiting_messages(instance))
    instances.deliver_message(instance, name, {**payload, "reply_to": instance.business_key}, None)
    db.session.commit()
