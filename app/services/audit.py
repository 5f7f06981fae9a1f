"""The append-only, hash-chained event log: every state change writes one here in the same transaction."""
from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import insert
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import Event, ProcessInstance, User
from ..models.base import utcnow

GENESIS = "0" * 64


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def _iso(at: datetime) -> str:
    # Microsecond precision survives both SQLite and PostgreSQL round trips.
    return at.strftime("%Y-%m-%dT%H:%M:%S.%f")


def event_hash(
    *, instance_key: str, seq: int, type: str, spec_id: str | None, task_guid: str | None,
    actor_id: int | None, organisation_id: int | None, created_at: datetime, data: dict, prev_hash: str,
) -> str:
    """Hash of an event's content chained to the previous event's hash."""
    body = _canonical({
        "instance": instance_key, "seq": seq, "type": type, "spec_id": spec_id,
        "task_guid": task_guid, "actor_id": actor_id, "organisation_id": organisation_id,
        "created_at": _iso(created_at), "data": data, "prev_hash": prev_hash,
    })
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def append_event(
    instance: ProcessInstance,
    type: str,
    *,
    actor: User | None = None,
    spec_id: str | None = None,
    task_guid: str | None = None,
    data: dict[str, Any] | None = None,
    organisation_id: int | None = None,
) -> dict[str, Any]:
    """Append one event to the instance's chain (written with the caller's transaction)."""
    # Round-trip through JSON so what we hash is exactly what the database will give back.
    payload = json.loads(_canonical(data or {}))
    created_at = utcnow().replace(tzinfo=None)
    seq = (instance.event_seq or 0) + 1
    prev = instance.event_head or GENESIS
    org_id = organisation_id if organisation_id is not None else (
        actor.organisation_id if actor is not None else instance.organisation_id)
    actor_id = actor.id if actor is not None else None
    # The business key (not the row id) binds the event to its instance: it exists before the first flush,
    # so starting an instance needs no extra round trip, and it is what an auditor reads.
    digest = event_hash(
        instance_key=instance.business_key, seq=seq, type=type, spec_id=spec_id, task_guid=task_guid,
        actor_id=actor_id, organisation_id=org_id, created_at=created_at, data=payload, prev_hash=prev,
    )
    row = {"seq": seq, "type": type, "spec_id": spec_id, "task_guid": task_guid, "actor_id": actor_id,
           "organisation_id": org_id, "created_at": created_at, "data": payload, "prev_hash": prev, "hash": digest}
    instance.event_seq = seq
    instance.event_head = digest
    # Rows are inserted in one batch when the session flushes (see _insert_pending_events): one statement
    # per action instead of one per event, and the instance's id is known by then.
    db.session.info.setdefault(PENDING, []).append((instance, row))
    return row


PENDING = "pending_events"


@sa_event.listens_for(Session, "after_flush")
def _insert_pending_events(session: Session, _context: object) -> None:
    pending = session.info.pop(PENDING, None)
    if not pending:
        return
    rows = [{**row, "instance_id": instance.id} for instance, row in pending]
    # A plain table INSERT with every column in every row: one statement per step. (The ORM's bulk insert
    # costs more in Python and leaves out None values, so it issued one INSERT per set of non-None columns.)
    session.connection().execute(insert(Event.__table__), rows)


@sa_event.listens_for(Session, "after_rollback")
def _drop_pending_events(session: Session) -> None:
    session.info.pop(PENDING, None)


def verify_chain(events: list[Event], instance_key: str) -> tuple[bool, str | None]:
    """Recompute a chain in sequence order; return (ok, description of the first problem)."""
    prev = GENESIS
    expected_seq = 1
    for ev in events:
        if ev.seq != expected_seq:
            return False, f"event #{expected_seq} is missing or out of order (found #{ev.seq})"
        if ev.prev_hash != prev:
            return False, f"event #{ev.seq} does not chain to its predecessor"
        digest = event_hash(
            instance_key=instance_key, seq=ev.seq, type=ev.type, spec_id=ev.spec_id,
            task_guid=ev.task_guid, actor_id=ev.actor_id, organisation_id=ev.organisation_id,
            created_at=_naive_utc(ev.created_at),
            data=ev.data, prev_hash=ev.prev_hash,
        )
        if digest != ev.hash:
            return False, f"event #{ev.seq} ({ev.type}) has been altered"
        prev = ev.hash
        expected_seq += 1
    return True, None


def _naive_utc(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at
