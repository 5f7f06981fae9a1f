"""Timer jobs: the periodic sweep and firing one instance (both idempotent)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import update

from ..extensions import db
from ..models import DueTimer, ProcessInstance
from ..models.base import utcnow
from ..services import timers
from ..services.errors import Conflict


def sweep(now: str | None = None, limit: int = 1000) -> dict[str, int]:
    """Fire every due timer once (rq cron runs this every minute); one transaction per instance."""
    at = datetime.fromisoformat(now) if now else utcnow()
    counts = {"due": 0, "fired": 0, "skipped": 0, "conflicts": 0}
    rows = timers.due_rows(at, limit)
    db.session.rollback()  # end the read; each instance gets its own transaction
    counts["due"] = len(rows)
    done: set[int] = set()
    for row_id, instance_id in rows:
        try:
            timers.lock_instance(instance_id)
            if not timers.claim(row_id, at):  # another worker fired it
                counts["skipped"] += 1
                db.session.rollback()
                continue
            if instance_id not in done:
                instance = db.session.get(ProcessInstance, instance_id)
                if instance is not None and timers.fire_due_timers(instance, at):
                    counts["fired"] += 1
                done.add(instance_id)
            db.session.commit()
        except Conflict:  # the instance changed meanwhile: the row stays unfired for the next sweep
            db.session.rollback()
            counts["conflicts"] += 1
    return counts


def fire_instance(instance_id: int, now: str | None = None) -> list[str]:
    """Fire one instance's due timers, claiming its due rows first (nothing when another worker has)."""
    at = datetime.fromisoformat(now) if now else utcnow()
    timers.lock_instance(instance_id)
    claimed = db.session.execute(update(DueTimer).where(
        DueTimer.instance_id == instance_id, DueTimer.fired.is_(False), DueTimer.due_at <= at)
        .values(fired=True, fired_at=at)).rowcount
    instance = db.session.get(ProcessInstance, instance_id)
    if not claimed or instance is None:
        db.session.rollback()
        return []
    try:
        fired = timers.fire_due_timers(instance, at)
        db.session.commit()
    except Conflict:  # the instance changed meanwhile: the rows stay unfired for the next sweep
        db.session.rollback()
        return []
    return fired
