"""Routing messages between instances: start the process a message starts, or deliver a reply."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from sqlalchemy import bindparam, case, select
from sqlalchemy.orm import aliased

from ..extensions import db
from ..models import InstanceLink, ProcessInstance, User
from . import instances
from .audit import append_event
from .definitions import compiled_for, deployed_processes

# Messages can start processes that throw messages that start processes...; a loop in the diagrams
# must not become a loop in one transaction.
MAX_DEPTH = 12


def starters() -> dict[str, str]:
    """Message name -> process id whose (latest version's) start event catches it."""
    out = {}
    for version in deployed_processes():
        name = compiled_for(version).message_start
        if name:
            out[name] = version.process_id
    return out


def dispatch(source: ProcessInstance, name: str, payload: dict[str, Any], actor: User | None,
             depth: int = 0) -> ProcessInstance | None:
    """Route one thrown message; return the instance it went to (started or delivered), if any."""
    if depth > MAX_DEPTH:
        append_event(source, "message_unrouted", data={"name": name, "reason": "too many nested messages"})
        return None
    reply_to = payload.get("reply_to")
    if reply_to:
        target = db.session.scalar(select(ProcessInstance).where(ProcessInstance.business_key == str(reply_to)))
        if target is None:
            append_event(source, "message_unrouted", data={"name": name, "reason": f"no instance {reply_to}"})
            return None
        _link(source, target, name)
        instances.deliver_message(target, name, payload, actor, depth)
        return target
    process_id = starters().get(name)
    if process_id is None:
        append_event(source, "message_unrouted", data={"name": name, "reason": "no process starts on it"})
        return None
    starter = actor or (db.session.get(User, source.created_by_id) if source.created_by_id else None)
    target = instances.start_instance(
        process_id, starter, payload, organisation=source.organisation, requester=starter,
        validate_form=False, started_by={"message": name, "source": source.business_key}, depth=depth,
    )
    _link(source, target, name)
    return target


def _link(source: ProcessInstance, target: ProcessInstance, name: str) -> None:
    """Record the link on both instances (each has its own hash chain)."""
    exists = db.session.scalar(select(InstanceLink.id).where(
        InstanceLink.source_id == source.id, InstanceLink.target_id == target.id, InstanceLink.message == name))
    if exists:
        return
    db.session.add(InstanceLink(source=source, target=target, message=name))
    append_event(source, "link_created", data={"message": name, "to": target.business_key,
                                               "process": target.process_id})
    append_event(target, "link_created", data={"message": name, "from": source.business_key,
                                               "process": source.process_id})
    instances._flush_instance()


def links_of(instance: ProcessInstance) -> list[dict[str, Any]]:
    """Instances linked to this one, in both directions."""
    rows = db.session.execute(_links_statement(), {"instance_id": instance.id})
    return [{"direction": "out" if row.source_id == instance.id else "in", "message": row.message,
             "instance_id": row.other_id, "business_key": row.business_key, "process_id": row.process_id,
             "status": row.status} for row in rows]


@lru_cache(maxsize=1)
def _links_statement() -> Any:
    # Plain rows in one query, the other end joined: every API answer about an instance lists its links, and
    # most instances have none, where loading entities cost far more than the (empty) query.
    other = aliased(ProcessInstance)
    me = bindparam("instance_id")
    other_id = case((InstanceLink.source_id == me, InstanceLink.target_id), else_=InstanceLink.source_id)
    return (select(InstanceLink.source_id, InstanceLink.message, other.id.label("other_id"), other.business_key,
                   other.process_id, other.status)
            .join(other, other.id == other_id)
            .where((InstanceLink.source_id == me) | (InstanceLink.target_id == me)).order_by(InstanceLink.id))
