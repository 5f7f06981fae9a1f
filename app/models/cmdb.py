"""Minimal configuration items; the CMDB issue extends this table."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .identity import Organisation


class ConfigurationItem(db.Model):
    __tablename__ = "configuration_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    ci_type: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20), default="in_use", index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)

    organisation: Mapped[Organisation] = relationship()


class CIChange(db.Model):
    """History of a configuration item: what changed, from what, to what, under which change."""

    __tablename__ = "ci_change"

    id: Mapped[int] = mapped_column(primary_key=True)
    ci_id: Mapped[int] = mapped_column(ForeignKey("configuration_item.id"), index=True)
    field: Mapped[str] = mapped_column(String(40))
    old_value: Mapped[str | None] = mapped_column(String(500))
    new_value: Mapped[str | None] = mapped_column(String(500))
    change_key: Mapped[str] = mapped_column(String(40), index=True)
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ci: Mapped[ConfigurationItem] = relationship()
