"""Logging in and changing one's password: login failure handling, the password policy and the security log."""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, update
from werkzeug.security import check_password_hash

from ..extensions import db
from ..models import SecurityEvent, User
from ..models.base import utcnow
from ..models.identity import hash_password
from .errors import Forbidden, ServiceError, ValidationFailed

EVENT_TYPES = ("login_succeeded", "login_failed", "login_refused", "login_throttled", "account_locked",
               "account_unlocked",
               "password_changed", "password_change_refused", "user_created", "user_updated", "user_deactivated",
               "user_reactivated", "password_reset", "password_expired")


class LoginRefused(ServiceError):
    """A login refused before any password is checked, until `until` (the answer carries Retry-After)."""

    status = 429

    def __init__(self, message: str, until: datetime, **details: Any):
        retry = max(1, int((until - utcnow()).total_seconds()))
        super().__init__(message, retry_after=retry, **details)
        self.headers = {"Retry-After": str(retry)}


class AccountLocked(LoginRefused):
    """Too many failed logins in a row: the account refuses every login until `until`."""

    code = "account_locked"

    def __init__(self, message: str, until: datetime):
        super().__init__(message, until, locked_until=until.isoformat())


class TooManyAttempts(LoginRefused):
    """Too many failed logins from one address, whatever the accounts (password spraying, credential stuffing)."""

    code = "too_many_attempts"


@cache
def _dummy_hash() -> str:
    return hash_password("not a password anyone has")


def record_security_event(kind: str, username: str, user: User | None = None, remote_addr: str | None = None,
                          **data: Any) -> SecurityEvent:
    """Append one event to the security log (flushed with the caller's transaction)."""
    event = SecurityEvent(type=kind, username=username[:64], user=user, remote_addr=(remote_addr or "")[:64],
                          data=data)
    db.session.add(event)
    return event


def authenticate(username: str, password: str, *, channel: str = "web", remote_addr: str | None = None) -> User | None:
    """The active user with these credentials, or None; counts failures, locks after too many, logs each try.

    Raises AccountLocked while the account is locked, and TooManyAttempts while the address has failed too often,
    whatever the password. The caller commits either way, so that a failure counts."""
    now = utcnow()
    _check_address(username, remote_addr, channel, now)
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        # As slow as a real check, so the answer's timing does not tell which usernames exist.
        check_password_hash(_dummy_hash(), password)
        record_security_event("login_failed", username, remote_addr=remote_addr, channel=channel,
                              reason="unknown_user")
        return None
    if user.locked_until is not None and user.locked_until > now:
        record_security_event("login_refused", username, user, remote_addr, channel=channel, reason="locked")
        raise AccountLocked(_("Too many failed logins: this account is locked for now. Try again later or ask an "
                              "administrator."), user.locked_until)
    if not user.active or not user.check_password(password):
        # Counted in the database, not from what this request read: parallel guesses each count.
        failures = db.session.execute(update(User).where(User.id == user.id).values(
            failed_logins=User.failed_logins + 1).returning(User.failed_logins)).scalar_one()
        reason = "inactive" if not user.active else "wrong_password"
        record_security_event("login_failed", username, user, remote_addr, channel=channel, reason=reason,
                              failures=failures)
        if failures >= current_app.config["LOGIN_MAX_FAILURES"]:
            user.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
            user.failed_logins = 0
            record_security_event("account_locked", username, user, remote_addr, channel=channel,
                                  until=user.locked_until.isoformat())
        db.session.flush()
        return None
    user.clear_lock()
    record_security_event("login_succeeded", username, user, remote_addr, channel=channel)
    max_age = current_app.config["PASSWORD_MAX_AGE_DAYS"]
    if user.password_changed_at is None:
        user.password_changed_at = now  # set before ages were kept: the clock starts now
    elif max_age and now - user.password_changed_at > timedelta(days=max_age) and not user.must_change_password:
        user.must_change_password = True  # the same path as an administrator-chosen password
        record_security_event("password_expired", username, user, remote_addr, days=max_age)
    db.session.flush()
    return user


def _check_address(username: str, remote_addr: str | None, channel: str, now: datetime) -> None:
    """Refuse an address with LOGIN_MAX_FAILURES_PER_ADDRESS failed logins (any usernames) in the lock window."""
    limit = current_app.config["LOGIN_MAX_FAILURES_PER_ADDRESS"]
    if not limit or not remote_addr:
        return
    window = timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
    recent = list(db.session.scalars(
        select(SecurityEvent.created_at).where(SecurityEvent.remote_addr == remote_addr[:64],
                                               SecurityEvent.created_at >= now - window,
                                               SecurityEvent.type == "login_failed")
        .order_by(SecurityEvent.created_at.desc()).limit(limit)))
    if len(recent) < limit:
        return
    # Free again when the oldest of those failures leaves the window; no password is checked meanwhile.
    oldest = recent[-1] if recent[-1].tzinfo else recent[-1].replace(tzinfo=now.tzinfo)
    record_security_event("login_throttled", username, remote_addr=remote_addr, channel=channel, failures=limit)
    raise TooManyAttempts(_("Too many failed logins from your network address: try again later."), oldest + window)


def password_problems(username: str, password: str) -> list[str]:
    """Why a new password is refused: length, variety, the username; empty when it is acceptable."""
    problems = []
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        problems.append(_("At least %(n)s characters.", n=minimum))
    kinds = sum((any(c.isalpha() for c in password), any(c.isdigit() for c in password),
                 any(not c.isalnum() for c in password)))
    if kinds < 2:
        problems.append(_("Mix at least two of letters, digits and other characters."))
    if username and username.lower() in password.lower():
        problems.append(_("Must not contain the username."))
    return problems


def change_password(user: User, current: str, new: str, repeated: str, remote_addr: str | None = None) -> User:
    """Change one's own password; it ends every other session and revokes every API token of the user."""
    if not user.active:
        raise Forbidden(_("Log in to change your password."))
    errors: dict[str, list[str]] = {}
    if not user.check_password(current):
        errors["current"] = [_("This is not your current password.")]
    problems = password_problems(user.username, new)
    if current and new == current:
        problems.append(_("Choose a password different from the current one."))
    if problems:
        errors["new"] = problems
    if new != repeated:
        errors["repeated"] = [_("The two new passwords differ.")]
    if errors:
        record_security_event("password_change_refused", user.username, user, remote_addr,
                              fields=sorted(errors))
        db.session.flush()
        raise ValidationFailed(_("The password was not changed."), errors)
    user.set_password(new)
    user.must_change_password = False
    user.end_sessions()
    record_security_event("password_changed", user.username, user, remote_addr)
    db.session.flush()
    return user


def unlock(username: str, actor: str = "cli") -> User:
    """Lift a login lock before it ends by itself (an administrator's command)."""
    user = db.session.scalar(select(User).where(User.username == username))
    if user is None:
        raise ValidationFailed(_("No such user."), {"username": [_("No such user.")]})
    user.clear_lock()
    record_security_event("account_unlocked", username, user, by=actor)
    db.session.flush()
    return user


def security_log(actor: User, *, username: str = "", kind: str = "", page: int = 1,
                 page_size: int = 50) -> tuple[list[SecurityEvent], bool]:
    """A page of the security log, newest first, and whether there is a next page; auditors and administrators."""
    if not actor.in_group("auditor", "administrator"):
        raise Forbidden(_("Only auditors and administrators may read the security log."))
    query = select(SecurityEvent).order_by(SecurityEvent.id.desc())
    if username:
        query = query.where(SecurityEvent.username == username)
    if kind:
        query = query.where(SecurityEvent.type == kind)
    rows = list(db.session.scalars(query.offset((max(page, 1) - 1) * page_size).limit(page_size + 1)))
    return rows[:page_size], len(rows) > page_size
