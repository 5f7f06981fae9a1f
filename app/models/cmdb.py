"""The CMDB (spec 6.1.5): configuration items with class attributes, typed relations, history, baselines."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow
from .identity import Organisation


class ConfigurationItem(db.Model):
    __tablename__ = "configuration_item"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    ci_type: Mapped[str] = mapped_column(String(40), index=True)
    status: Mapped[str] = mapped_column(String(20), default="in_use", index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    # Class attributes, validated by the class's JSON Schema (app/services/cmdb.py CLASSES).
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    # Copies of the attributes monitoring matches alerts on, indexed.
    ip_address: Mapped[str | None] = mapped_column(String(64), index=True)
    hostname: Mapped[str | None] = mapped_column(String(200), index=True)
    # A controlled CI changes only through an approved change (CI control, 6.1.5).
    controlled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship()


class CIRelation(db.Model):
    """A typed, directed relation: source <rel_type> target (e.g. APP runs_on SRV)."""

    __tablename__ = "ci_relation"
    __table_args__ = (
        UniqueConstraint("source_id", "target_id", "rel_type"),
        Index("ix_ci_relation_source_type", "source_id", "rel_type"),
        Index("ix_ci_relation_target_type", "target_id", "rel_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("configuration_item.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("configuration_item.id", ondelete="CASCADE"))
    rel_type: Mapped[str] = mapped_column(String(30))
    created_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=utcnow)

    source: Mapped[ConfigurationItem] = relationship(foreign_keys=[source_id])
    target: Mapped[ConfigurationItem] = relationship(foreign_keys=[target_id])


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
    actor = relationship("User")


class CIBaseline(db.Model):
    """A snapshot of a set of CIs: {code: {name, ci_type, status, attributes, relations}}."""

    __tablename__ = "ci_baseline"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    created_by = relationship("User")
