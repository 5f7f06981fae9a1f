"""Who looked at what in the audit views, and the security log (both kept apart from the instances' hash chains)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow
from .identity import User


class AuditView(db.Model):
    """One view of an audit page or API endpoint: who, which endpoint, which instance or filter, when."""

    __tablename__ = "audit_view"
    __table_args__ = (Index("ix_audit_view_user_time", "user_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    endpoint: Mapped[str] = mapped_column(String(100))
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), index=True)
    filters: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    user: Mapped[User] = relationship()


class SecurityEvent(db.Model):
    """One security-relevant event outside any case: a login, a failed login, a lock, a password change."""

    __tablename__ = "security_event"
    __table_args__ = (Index("ix_security_event_user_time", "username", "created_at"),
                      Index("ix_security_event_addr_time", "remote_addr", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(40), index=True)
    # As typed at the login (the account may not exist); the user when it does.
    username: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)

    user: Mapped[User | None] = relationship()
