"""The incident record of spec 6.1.2 Table 2 step 2, fields a) to h), kept in typed columns."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .cmdb import ConfigurationItem
from .identity import Organisation, User
from .process import ProcessInstance


class Incident(db.Model):
    __tablename__ = "incident"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    number: Mapped[str] = mapped_column(String(40), unique=True)  # a) 事件编号
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)  # b)
    recorder_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # c) 记录人
    reporter_name: Mapped[str] = mapped_column(String(100), default="")  # d)
    reporter_contact: Mapped[str] = mapped_column(String(200), default="")  # d)
    reporter_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    channel: Mapped[str] = mapped_column(String(20), default="web")
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # e)
    symptoms: Mapped[str] = mapped_column(Text, default="")  # f)
    error_codes: Mapped[str] = mapped_column(String(500), default="")  # f)
    impact: Mapped[str | None] = mapped_column(String(20))  # g)
    urgency: Mapped[str | None] = mapped_column(String(20))
    priority: Mapped[str | None] = mapped_column(String(10), index=True)
    category: Mapped[str | None] = mapped_column(String(40), index=True)
    service_class: Mapped[str | None] = mapped_column(String(40))
    support_group: Mapped[str | None] = mapped_column(String(64))
    support_line: Mapped[int | None] = mapped_column()
    status: Mapped[str] = mapped_column(String(30), default="new", index=True)  # h)
    solution: Mapped[str] = mapped_column(Text, default="")
    create_problem: Mapped[bool] = mapped_column(default=False)
    rfc_requested: Mapped[bool] = mapped_column(default=False)
    escalation_count: Mapped[int] = mapped_column(default=0)
    upward_escalations: Mapped[int] = mapped_column(default=0)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    instance: Mapped[ProcessInstance] = relationship()
    organisation: Mapped[Organisation] = relationship()
    recorder: Mapped[User | None] = relationship(foreign_keys=[recorder_id])
    reporter: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    cis: Mapped[list[IncidentCI]] = relationship(cascade="all, delete-orphan")


class IncidentCI(db.Model):
    """Affected configuration items of an incident (field e)."""

    __tablename__ = "incident_ci"
    __table_args__ = (UniqueConstraint("incident_id", "ci_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id", ondelete="CASCADE"), index=True)
    ci_id: Mapped[int] = mapped_column(ForeignKey("configuration_item.id"), index=True)

    ci: Mapped[ConfigurationItem] = relationship()
