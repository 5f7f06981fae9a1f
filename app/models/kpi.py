"""An organisation's own target for a service quality indicator (spec 7.2: targets are set per department)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .identity import Organisation, User


class KpiTarget(db.Model):
    """One override; organisations without one take their nearest ancestor's, else the built-in default."""

    __tablename__ = "kpi_target"
    __table_args__ = (UniqueConstraint("organisation_id", "indicator"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    indicator: Mapped[str] = mapped_column(String(64))
    target: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    organisation: Mapped[Organisation] = relationship()
    updated_by: Mapped[User | None] = relationship()
