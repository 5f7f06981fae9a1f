"""Background work: the transactional outbox and the due-timer table."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow


class OutboxJob(db.Model):
    """A job written in the same transaction as the state change that needs it.

    The dispatcher hands undispatched rows to rq (REDIS_URL set) or runs them in-process; a row stays here,
    undispatched, while Redis is unreachable. `done_at` makes running a job twice harmless.
    """

    __tablename__ = "outbox_job"
    __table_args__ = (Index("ix_outbox_pending", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    args: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


class DueTimer(db.Model):
    """A timer an instance waits on (from the engine's waiting events), kept after every step.

    The sweep selects `fired = false AND due_at <= now` through the index and claims each row with
    `UPDATE ... WHERE fired = false`, so only one worker fires it.
    """

    __tablename__ = "due_timer"
    __table_args__ = (
        UniqueConstraint("instance_id", "element_id", "due_at"),
        Index("ix_due_timer_pending", "fired", "due_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    element_id: Mapped[str] = mapped_column(String(100))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    fired: Mapped[bool] = mapped_column(Boolean, default=False)
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ProcessSchedule(db.Model):
    """A periodic start of a process in one organisation, from the `schedule` property of its start event
    (ISO 8601 repeating interval, e.g. R/P1M); `next_run_at` is claimed by UPDATE so a start happens once."""

    __tablename__ = "process_schedule"
    __table_args__ = (UniqueConstraint("process_id", "organisation_id"), Index("ix_schedule_next", "next_run_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    schedule: Mapped[str] = mapped_column(String(60))
    next_run_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    last_error: Mapped[str] = mapped_column(Text, default="")
