"""User administration by administrators: accounts, organisations, groups, activation, passwords; all logged."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select

from ..extensions import db
from ..models import Group, Organisation, User, UserGroup
from .accounts import password_problems, record_security_event, unlock
from .errors import Forbidden, NotFound, ValidationFailed
from .identity import DESK_TIERS

USERNAME = re.compile(r"^[a-z][a-z0-9_.-]{1,63}$")


def require_admin(actor: User) -> None:
    """Refuse anyone but an administrator."""
    if not actor.in_group("administrator"):
        raise Forbidden(_("Only administrators manage user accounts."))


@dataclass
class Account:
    """What an administrator sets on an account (the password only when creating or resetting)."""

    display_name: str
    organisation_code: str
    groups: list[str]
    email: str = ""
    phone: str = ""
    desk_tier: str | None = None


def list_users(actor: User, q: str = "", organisation: str = "", group: str = "") -> list[User]:
    """Accounts matching a text, an organisation and a group, by username."""
    require_admin(actor)
    query = select(User).join(Organisation, User.organisation_id == Organisation.id).order_by(User.username)
    if q:
        like = f"%{q}%"
        query = query.where(or_(User.username.ilike(like), User.display_name.ilike(like)))
    if organisation:
        query = query.where(Organisation.code == organisation)
    if group:
        query = query.where(User.id.in_(select(UserGroup.user_id).join(Group).where(Group.code == group)))
    return list(db.session.scalars(query.limit(500)))


def get_user(actor: User, user_id: int) -> User:
    """One account, for administrators."""
    require_admin(actor)
    user = db.session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such user."))
    return user


def _checked(account: Account) -> tuple[dict[str, list[str]], Organisation | None, list[Group]]:
    errors: dict[str, list[str]] = {}
    if not account.display_name.strip():
        errors["display_name"] = [_("This field is required.")]
    org = db.session.scalar(select(Organisation).where(Organisation.code == account.organisation_code))
    if org is None:
        errors["organisation"] = [_("Choose one of the offered values.")]
    groups = list(db.session.scalars(select(Group).where(Group.code.in_(account.groups))))
    if len(groups) != len(set(account.groups)):
        errors["groups"] = [_("Choose one of the offered values.")]
    elif not groups:
        errors["groups"] = [_("Choose at least one group.")]
    if "service_desk" in account.groups and account.desk_tier not in DESK_TIERS:
        errors["desk_tier"] = [_("A service desk member needs a tier.")]
    return errors, org, groups


def _apply(user: User, account: Account, org: Organisation, groups: list[Group]) -> dict[str, Any]:
    before = {"display_name": user.display_name, "organisation": user.organisation.code if user.organisation else None,
              "groups": sorted(user.group_codes) if user.id else [], "email": user.email, "phone": user.phone,
              "desk_tier": user.tier() if user.id else None}
    user.display_name = account.display_name.strip()
    user.email, user.phone = account.email.strip(), account.phone.strip()
    user.organisation = org
    tier = account.desk_tier if "service_desk" in account.groups else None
    kept = {m.group.code: m for m in user.memberships}
    user.memberships = [kept.get(g.code) or UserGroup(group=g) for g in groups]
    for m in user.memberships:
        m.tier = tier if m.group.code == "service_desk" else None
    after = {"display_name": user.display_name, "organisation": org.code, "groups": sorted(g.code for g in groups),
             "email": user.email, "phone": user.phone, "desk_tier": tier}
    return {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}


def create_account(actor: User, username: str, account: Account, password: str) -> User:
    """A new account with a password the administrator chose; its owner must change it at first login."""
    require_admin(actor)
    errors, org, groups = _checked(account)
    username = username.strip().lower()
    if not USERNAME.match(username):
        errors["username"] = [_("Lower-case letters, digits and . _ - (2 to 64), starting with a letter.")]
    elif db.session.scalar(select(User.id).where(User.username == username)) is not None:
        errors["username"] = [_("This username is taken.")]
    problems = password_problems(username, password)
    if problems:
        errors["password"] = problems
    if errors:
        raise ValidationFailed(_("The account was not created."), errors)
    user = User(username=username, display_name="", organisation=org, must_change_password=True)
    user.set_password(password)
    db.session.add(user)
    changes = _apply(user, account, org, groups)  # type: ignore[arg-type]
    record_security_event("user_created", username, user, by=actor.username,
                          **{k: v["to"] for k, v in changes.items()})
    db.session.flush()
    return user


def update_account(actor: User, user: User, account: Account) -> User:
    """Change an account's name, contact, organisation and groups; logs what changed."""
    require_admin(actor)
    errors, org, groups = _checked(account)
    if user.id == actor.id and "administrator" not in account.groups:
        errors["groups"] = [_("You cannot remove your own administrator role.")]
    if errors:
        raise ValidationFailed(_("The account was not changed."), errors)
    changes = _apply(user, account, org, groups)  # type: ignore[arg-type]
    if changes:
        record_security_event("user_updated", user.username, user, by=actor.username, changes=changes)
    db.session.flush()
    return user


def set_active(actor: User, user: User, active: bool) -> User:
    """Deactivate (ending its sessions and tokens) or reactivate an account."""
    require_admin(actor)
    if user.id == actor.id and not active:
        raise Forbidden(_("You cannot deactivate your own account."))
    if user.active != active:
        user.active = active
        user.end_sessions()
        record_security_event("user_reactivated" if active else "user_deactivated", user.username, user,
                              by=actor.username)
        db.session.flush()
    return user


def reset_password(actor: User, user: User, password: str) -> User:
    """Give an account a password chosen by an administrator; its owner must change it at next login."""
    require_admin(actor)
    problems = password_problems(user.username, password)
    if problems:
        raise ValidationFailed(_("The password was not changed."), {"password": problems})
    user.set_password(password)
    user.must_change_password = True
    user.clear_lock()
    user.end_sessions()
    record_security_event("password_reset", user.username, user, by=actor.username)
    db.session.flush()
    return user


def unlock_account(actor: User, user: User) -> User:
    """Lift a login lock before it ends by itself."""
    require_admin(actor)
    return unlock(user.username, actor=actor.username)
