"""The transactional outbox: jobs are written with the state change, then dispatched after commit.

`enqueue()` adds a row in the caller's transaction (so a job exists exactly when its cause committed).
`dispatch()` hands undispatched rows to rq when REDIS_URL is set, or runs them in-process otherwise (the
server's dispatcher thread, `flask jobs dispatch`, or a test calling it directly). When Redis cannot be
reached the rows stay undispatched and nothing is lost; the next dispatch sends them.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import current_app
from sqlalchemy import select, update

from ..extensions import db
from ..models import OutboxJob
from ..models.base import utcnow

log = logging.getLogger(__name__)
QUEUE = "itsm"


def enqueue(name: str, **args: Any) -> OutboxJob:
    """Add a job to the outbox in the current transaction (the caller commits)."""
    from ..jobs import jobs

    if name not in jobs():
        raise ValueError(f"unknown job {name!r}")
    job = OutboxJob(name=name, args=args)
    db.session.add(job)
    return job


def pending(limit: int = 500) -> list[OutboxJob]:
    return list(db.session.scalars(select(OutboxJob).where(OutboxJob.dispatched_at.is_(None))
                                   .order_by(OutboxJob.id).limit(limit)))


def redis_connection(url: str | None = None) -> Any:
    from redis import Redis

    return Redis.from_url(url or current_app.config["REDIS_URL"], socket_connect_timeout=1, socket_timeout=5)


def rq_queue(connection: Any = None) -> Any:
    from rq import Queue

    return Queue(QUEUE, connection=connection or redis_connection())


def dispatch(limit: int = 500) -> dict[str, int]:
    """Send pending outbox rows to rq (REDIS_URL) or run them here; commits. Returns counts."""
    from redis.exceptions import RedisError

    rows = pending(limit)
    counts = {"pending": len(rows), "sent": 0, "ran": 0, "kept": 0}
    if not rows:
        return counts
    if current_app.config.get("REDIS_URL"):
        try:
            queue = rq_queue()
            for row in rows:
                # Claim the row first: two dispatchers never send the same job twice.
                claimed = db.session.execute(update(OutboxJob).where(
                    OutboxJob.id == row.id, OutboxJob.dispatched_at.is_(None)).values(dispatched_at=utcnow()))
                if claimed.rowcount != 1:
                    continue
                queue.enqueue("app.jobs.worker.run_outbox_job", row.id, job_id=f"outbox-{row.id}")
                db.session.commit()
                counts["sent"] += 1
        except (RedisError, OSError) as exc:
            db.session.rollback()
            counts["kept"] = counts["pending"] - counts["sent"]
            log.warning("Redis unreachable, %d outbox job(s) kept: %s", counts["kept"], exc)
        return counts
    from ..jobs import run_job

    for row in rows:
        claimed = db.session.execute(update(OutboxJob).where(
            OutboxJob.id == row.id, OutboxJob.dispatched_at.is_(None)).values(dispatched_at=utcnow()))
        db.session.commit()
        if claimed.rowcount == 1:
            run_job(row.id)
            counts["ran"] += 1
    return counts
