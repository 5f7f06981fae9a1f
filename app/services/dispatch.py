"""Automatic dispatch of tasks to individuals (spec 6.2 incident system: 支持将事件记录自动分派到相应支持组和个人).

The processes name a group for each step (a lane, or the group the classification table chose). By default the
group's members claim its tasks from their inbox. An organisation may instead have a group's tasks given at once
to its member holding the fewest open tasks (`least_loaded`), passing over members who are away (leave,
training, off duty: `User.away_until`); when nobody is available the task stays with the group, as before.

The rules are few and read on every new task, so each process keeps them for CACHE_SECONDS; a change made here
is seen at once by this process and within that time by the others.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select

from ..extensions import db
from ..models import DispatchRule, Group, HumanTask, Organisation, User, UserGroup
from ..models.base import utcnow
from .accounts import record_security_event
from .errors import Forbidden, ValidationFailed

MODES = ("manual", "least_loaded")
CACHE_SECONDS = 30.0
MAX_AWAY_DAYS = 366
_cache: dict[str, Any] = {"app": None, "at": 0.0, "rules": {}}


def forget() -> None:
    """Drop this process's copy of the rules (the next task reads them again)."""
    _cache.update(app=None, at=0.0, rules={})


def _rules() -> dict[tuple[int, str], str]:
    app = id(current_app._get_current_object())
    if _cache["app"] != app or time.monotonic() - _cache["at"] > CACHE_SECONDS:
        rows = db.session.execute(select(DispatchRule.organisation_id, DispatchRule.group_code, DispatchRule.mode))
        _cache.update(app=app, at=time.monotonic(), rules={(org, group): mode for org, group, mode in rows})
    return _cache["rules"]


def mode_of(organisation_id: int, group_code: str) -> str:
    return _rules().get((organisation_id, group_code), "manual")


def pick(group_code: str | None, organisation_id: int, now: datetime | None = None) -> int | None:
    """The member a new task of the group goes to, or None (manual dispatch, or nobody available)."""
    if not group_code or mode_of(organisation_id, group_code) != "least_loaded":
        return None
    now = now or utcnow()
    open_tasks = func.count(HumanTask.id)
    row = db.session.execute(
        select(User.id, open_tasks)
        .join(UserGroup, UserGroup.user_id == User.id).join(Group, Group.id == UserGroup.group_id)
        .outerjoin(HumanTask, and_(HumanTask.assignee_id == User.id, HumanTask.state == "ready"))
        .where(Group.code == group_code, User.organisation_id == organisation_id, User.active.is_(True),
               or_(User.away_until.is_(None), User.away_until <= now))
        .group_by(User.id).order_by(open_tasks, User.id).limit(1)).first()
    return row[0] if row is not None else None


def rules_for(organisation: Organisation) -> dict[str, str]:
    """Each group's mode in the organisation (groups without a rule: manual)."""
    rows = db.session.scalars(select(DispatchRule).where(DispatchRule.organisation_id == organisation.id))
    return {r.group_code: r.mode for r in rows}


def set_mode(actor: User, organisation: Organisation, group_code: str, mode: str) -> bool:
    """Administrators choose how an organisation's tasks for a group are handed out; returns whether it changed."""
    if not actor.in_group("administrator"):
        raise Forbidden(_("Only administrators change how tasks are dispatched."))
    errors = {}
    if db.session.scalar(select(Group.id).where(Group.code == group_code)) is None:
        errors["group"] = [_("Unknown group.")]
    if mode not in MODES:
        errors["mode"] = [_("Choose one of the listed values.")]
    if errors:
        raise ValidationFailed(_("Check the dispatch rule."), errors)
    row = db.session.scalar(select(DispatchRule).where(DispatchRule.organisation_id == organisation.id,
                                                       DispatchRule.group_code == group_code))
    old = row.mode if row is not None else "manual"
    if old == mode:
        return False
    if row is None:
        db.session.add(DispatchRule(organisation_id=organisation.id, group_code=group_code, mode=mode))
    else:
        row.mode = mode
    record_security_event("dispatch_changed", actor.username, actor, organisation=organisation.code,
                          group=group_code, old=old, new=mode)
    db.session.flush()
    forget()
    return True


def set_away(actor: User, user: User, until: datetime | None, now: datetime | None = None) -> None:
    """A user (or an administrator for them) says they are away until a time; None: back now."""
    if actor.id != user.id and not actor.in_group("administrator"):
        raise Forbidden(_("You may only change your own availability."))
    now = now or utcnow()
    if until is not None:
        if until.tzinfo is None:
            raise ValidationFailed(_("Check the time."), {"away_until": [_("Give a time with its time zone.")]})
        if until <= now or until > now + timedelta(days=MAX_AWAY_DAYS):
            raise ValidationFailed(_("Check the time."), {"away_until": [
                _("A time in the future, at most %(days)s days ahead.", days=MAX_AWAY_DAYS)]})
    if user.away_until != until:
        user.away_until = until
        record_security_event("away_set", user.username, user, by=actor.username,
                              until=until.isoformat() if until else None)
    db.session.flush()


def is_away(user: User, now: datetime | None = None) -> bool:
    return user.away_until is not None and user.away_until > (now or utcnow())
