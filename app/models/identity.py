"""Organisations, users and groups (the spec's roles)."""
from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ..extensions import db
from .base import UTCDateTime, utcnow


class OrgLevel(enum.StrEnum):
    """The four department levels of the spec; order matters for escalation."""

    national = "national"
    provincial = "provincial"
    municipal = "municipal"
    county = "county"


class Organisation(db.Model):
    __tablename__ = "organisation"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    level: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"), index=True)

    parent: Mapped[Organisation | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Organisation]] = relationship(back_populates="parent")

    def ancestors(self) -> list[Organisation]:
        """Parent, grandparent, ... up to the national level."""
        chain, node = [], self.parent
        while node is not None:
            chain.append(node)
            node = node.parent
        return chain


class Group(db.Model):
    __tablename__ = "group"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(String(500), default="")

    memberships: Mapped[list[UserGroup]] = relationship(back_populates="group", cascade="all, delete-orphan")


class UserGroup(db.Model):
    """Membership of a user in a group; service desk members carry their tier."""

    __tablename__ = "user_group"
    __table_args__ = (UniqueConstraint("user_id", "group_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    group_id: Mapped[int] = mapped_column(ForeignKey("group.id", ondelete="CASCADE"), index=True)
    tier: Mapped[str | None] = mapped_column(String(20))  # call_taking | basic | skilled | expert

    user: Mapped[User] = relationship(back_populates="memberships")
    group: Mapped[Group] = relationship(back_populates="memberships", lazy="joined")


def hash_password(password: str) -> str:
    """A salted, deliberately slow hash of the password (werkzeug's default method)."""
    return generate_password_hash(password)


class User(UserMixin, db.Model):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200), default="")
    phone: Mapped[str] = mapped_column(String(50), default="")
    password_hash: Mapped[str] = mapped_column(String(256))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"), index=True)
    active: Mapped[bool] = mapped_column(default=True)
    locale: Mapped[str | None] = mapped_column(String(10))
    # Bumping this invalidates every API token issued to the user and every session logged in as them.
    token_version: Mapped[int] = mapped_column(Integer, default=1)
    # Consecutive failed logins since the last success or lock; at the limit the account is locked for a while.
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Set when an administrator chose the password: the user picks their own before doing anything else.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    # When the password was last set (None: before this was recorded; the clock starts at the next login).
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Away (leave, training, off duty) until then: automatic dispatch passes the user over meanwhile.
    away_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at = mapped_column(UTCDateTime(), default=utcnow)

    organisation: Mapped[Organisation] = relationship()
    # Loaded with the user: every request checks group membership.
    memberships: Mapped[list[UserGroup]] = relationship(back_populates="user", cascade="all, delete-orphan",
                                                        lazy="selectin")

    def set_password(self, password: str) -> None:
        self.password_hash = hash_password(password)
        self.password_changed_at = utcnow()

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    def end_sessions(self) -> None:
        """Invalidate every session and API token issued so far (both carry the token version)."""
        self.token_version = (self.token_version or 1) + 1

    def clear_lock(self) -> None:
        """Forget failed logins and any login lock."""
        self.failed_logins, self.locked_until = 0, None

    @property
    def is_active(self) -> bool:  # flask-login
        return bool(self.active)

    def get_id(self) -> str:  # flask-login: the session names the token version too, so bumping it logs out
        return f"{self.id}:{self.token_version}"

    @property
    def group_codes(self) -> set[str]:
        return {m.group.code for m in self.memberships}

    def in_group(self, *codes: str) -> bool:
        return bool(self.group_codes.intersection(codes))

    def tier(self, group_code: str = "service_desk") -> str | None:
        return next((m.tier for m in self.memberships if m.group.code == group_code), None)


class DispatchRule(db.Model):
    """How an organisation's tasks for one group are handed out (spec 6.2: 自动分派到相应支持组和个人): `manual`
    (the group's queue; members claim) or `least_loaded` (given at once to the member holding the fewest open
    tasks, passing over those away). No row: manual."""

    __tablename__ = "dispatch_rule"
    __table_args__ = (UniqueConstraint("organisation_id", "group_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    group_code: Mapped[str] = mapped_column(String(64))
    mode: Mapped[str] = mapped_column(String(20))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
