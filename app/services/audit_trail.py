"""Verification of the event log (the auditor features build on this)."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import Event, ProcessInstance
from .audit import verify_chain


def verify_instance(instance: ProcessInstance) -> tuple[bool, str | None]:
    """Check one instance's chain, including that its head matches the last event."""
    events = list(db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)))
    ok, problem = verify_chain(events, instance.business_key)
    if not ok:
        return ok, problem
    if len(events) != instance.event_seq or (events and events[-1].hash != instance.event_head):
        return False, f"the chain ends early: {instance.event_seq} events expected, {len(events)} found"
    from .cases import verify_attachments  # files attached to notes: each still matches its recorded digest

    problem = verify_attachments(instance, events)
    return problem is None, problem


def verify_all(business_key: str | None = None) -> list[tuple[str, str]]:
    """Verify every instance (or one); return (business key, problem) pairs."""
    stmt = select(ProcessInstance).order_by(ProcessInstance.id)
    if business_key:
        stmt = stmt.where(ProcessInstance.business_key == business_key)
    problems = []
    for instance in db.session.scalars(stmt):
        ok, problem = verify_instance(instance)
        if not ok:
            problems.append((instance.business_key, problem or "invalid"))
    return problems
