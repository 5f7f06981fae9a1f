"""SLA: business calendars per organisation and stopwatches (SLA clocks) per item."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow
from .identity import Organisation, User
from .process import ProcessInstance


class BusinessCalendar(db.Model):
    """An organisation's business calendar (timezone, hours per weekday, holidays, adjusted working days).

    An organisation without its own calendar uses its nearest ancestor's, then the default.
    """

    __tablename__ = "business_calendar"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    hours: Mapped[dict] = mapped_column(JSONType, default=dict)
    holidays: Mapped[list] = mapped_column(JSONType, default=list)
    working_days: Mapped[list] = mapped_column(JSONType, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    organisation: Mapped[Organisation] = relationship()
    updated_by: Mapped[User | None] = relationship()

    def spec(self) -> dict:
        return {"timezone": self.timezone, "hours": self.hours, "holidays": self.holidays,
                "working_days": self.working_days}


class SlaClock(db.Model):
    """A stopwatch on one item: started, paused (with reasons), stopped; its deadline is derived, never edited.

    `deadline_at`, `warning_at` and `elapsed_minutes` are recomputed from start, pauses, calendar and target
    by app.services.sla whenever the clock changes (and for sweeps); they are never set by hand.
    """

    __tablename__ = "sla_clock"
    __table_args__ = (
        UniqueConstraint("instance_id", "kind"),
        Index("ix_sla_clock_running_deadline", "status", "deadline_at"),
        Index("ix_sla_clock_running_warning", "status", "warning_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # response | resolve
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | paused | stopped | cancelled
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    service_class: Mapped[str | None] = mapped_column(String(40))
    priority: Mapped[str | None] = mapped_column(String(10))
    target_minutes: Mapped[int] = mapped_column(Integer)
    warning_share: Mapped[float] = mapped_column(Float, default=0.75)
    # The calendar the clock counts with, frozen at start so later calendar edits do not move it.
    calendar: Mapped[dict] = mapped_column(JSONType, default=dict)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    warning_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    elapsed_minutes: Mapped[int] = mapped_column(Integer, default=0)
    warned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    breached_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # What changed the target, in order: [{"at", "priority", "service_class", "target_minutes"}].
    history: Mapped[list] = mapped_column(JSONType, default=list)

    instance: Mapped[ProcessInstance] = relationship()
    pauses: Mapped[list[SlaPause]] = relationship(order_by="SlaPause.started_at", cascade="all, delete-orphan",
                                                  back_populates="clock")


class SlaPause(db.Model):
    """One pause of a clock, with its reason (waiting_user, waiting_vendor); ended_at None while paused."""

    __tablename__ = "sla_pause"

    id: Mapped[int] = mapped_column(primary_key=True)
    clock_id: Mapped[int] = mapped_column(ForeignKey("sla_clock.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(String(30))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    clock: Mapped[SlaClock] = relationship(back_populates="pauses")


class SlaReport(db.Model):
    """A stored monthly SLA report of one organisation: per service class and clock kind, the targets, how
    many were achieved, breaches and paused time. Regenerating a month replaces its rows (same figures)."""

    __tablename__ = "sla_report"
    __table_args__ = (UniqueConstraint("organisation_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM in the organisation's calendar timezone
    generated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # [{"service_class", "kind", "clocks", "target_minutes_avg", "achieved", "breached", "running",
    #   "paused_minutes", "achievement_rate"}]
    rows: Mapped[list] = mapped_column(JSONType, default=list)

    organisation: Mapped[Organisation] = relationship()
