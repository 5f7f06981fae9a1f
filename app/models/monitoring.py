"""Alerts received from monitoring (Prometheus Alertmanager, Zabbix), de-duplicated per fingerprint; e-mails
received by the service desk, de-duplicated per Message-ID."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow
from .cmdb import ConfigurationItem
from .incident import Incident


class MonitoringAlert(db.Model):
    """One alert (same source and fingerprint = the same alert); `count` counts repeated notifications."""

    __tablename__ = "monitoring_alert"
    __table_args__ = (UniqueConstraint("source", "fingerprint"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # alertmanager | zabbix
    fingerprint: Mapped[str] = mapped_column(String(200))
    name: Mapped[str] = mapped_column(String(300), default="")
    severity: Mapped[str] = mapped_column(String(30), default="")
    status: Mapped[str] = mapped_column(String(20), default="firing", index=True)  # firing | resolved
    summary: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    count: Mapped[int] = mapped_column(default=1)
    ci_id: Mapped[int | None] = mapped_column(ForeignKey("configuration_item.id"), index=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True)
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ci: Mapped[ConfigurationItem | None] = relationship()
    incident: Mapped[Incident | None] = relationship()


class InboundMail(db.Model):
    """One e-mail received by the service desk's mailbox (spec 6.1.1: the desk is reached by e-mail too): what
    became of it. Its Message-ID makes a redelivered message a no-op."""

    __tablename__ = "inbound_mail"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(300), unique=True)
    sender: Mapped[str] = mapped_column(String(300), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    outcome: Mapped[str] = mapped_column(String(20))  # created | noted | rejected
    reason: Mapped[str] = mapped_column(String(200), default="")
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
