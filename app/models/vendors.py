"""Suppliers and outsourced O&M services (spec 4 (3), 5.1.2, 6.2(5) 外包管理): contracts, staff, evaluations."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow
from .identity import Organisation, User


class Vendor(db.Model):
    """A supplier under contract with an organisation (infrastructure, application, terminal, O&M service)."""

    __tablename__ = "vendor"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30), index=True)  # infrastructure | application | terminal | service
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)  # the contracting one
    contact_name: Mapped[str] = mapped_column(String(100), default="")
    contact_phone: Mapped[str] = mapped_column(String(50), default="")
    contact_email: Mapped[str] = mapped_column(String(200), default="")
    contract_no: Mapped[str] = mapped_column(String(100), default="")
    contract_start: Mapped[date | None] = mapped_column(Date)
    contract_end: Mapped[date | None] = mapped_column(Date, index=True)
    service_scope: Mapped[str] = mapped_column(Text, default="")
    service_terms: Mapped[str] = mapped_column(Text, default="")  # the agreed service levels, as the contract says
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    organisation: Mapped[Organisation] = relationship()
    staff: Mapped[list[VendorStaff]] = relationship(back_populates="vendor", cascade="all, delete-orphan")
    evaluations: Mapped[list[VendorEvaluation]] = relationship(
        back_populates="vendor", cascade="all, delete-orphan", order_by="VendorEvaluation.created_at.desc()")


class VendorStaff(db.Model):
    """A user account that works for a vendor (a third-line engineer, an outsourced desk): whose tasks are the
    vendor's work (process control)."""

    __tablename__ = "vendor_staff"
    __table_args__ = (UniqueConstraint("user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    vendor: Mapped[Vendor] = relationship(back_populates="staff")
    user: Mapped[User] = relationship()


class VendorEvaluation(db.Model):
    """A periodic evaluation of a vendor's results (result control): three scores of 1 to 5 and a comment."""

    __tablename__ = "vendor_evaluation"
    __table_args__ = (UniqueConstraint("vendor_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vendor_id: Mapped[int] = mapped_column(ForeignKey("vendor.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(String(20))  # YYYY-MM, YYYY-Qn, YYYY-Hn or YYYY
    quality: Mapped[int] = mapped_column()
    timeliness: Mapped[int] = mapped_column()
    cooperation: Mapped[int] = mapped_column()
    comment: Mapped[str] = mapped_column(Text, default="")
    evaluator_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    vendor: Mapped[Vendor] = relationship(back_populates="evaluations")
    evaluator: Mapped[User | None] = relationship()

    @property
    def overall(self) -> float:
        return round((self.quality + self.timeliness + self.cooperation) / 3, 1)
