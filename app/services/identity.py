"""Organisations, groups (the spec's roles), users, authentication and API tokens."""
from __future__ import annotations

from functools import lru_cache
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import Group, Organisation, User, UserGroup
from .errors import Forbidden, NotFound, ValidationFailed

# The spec's roles (sections 5 and 6.1). Lanes in BPMN name these codes.
ROLES: list[tuple[str, str, str]] = [
    ("service_desk", "服务台", "Service desk"),
    ("support_line_1", "一线支持", "1st-line support"),
    ("support_line_2", "二线支持", "2nd-line support"),
    ("support_line_3", "三线支持", "3rd-line support (vendor)"),
    ("incident_lead", "事件管理组长", "Incident lead"),
    ("problem_lead", "问题管理组长", "Problem lead"),
    ("problem_analyst", "问题分析员", "Problem analyst"),
    ("problem_expert", "问题专家", "Problem expert"),
    ("change_analyst", "变更分析员", "Change analyst"),
    ("change_lead", "变更管理组长", "Change lead"),
    ("change_implementer", "变更实施人员", "Change implementer"),
    ("cab", "变更顾问委员会(CAB)", "Change advisory board"),
    ("ecab", "紧急变更顾问委员会(ECAB)", "Emergency CAB"),
    ("configuration_lead", "配置管理组长", "Configuration lead"),
    ("configuration_operator", "配置管理员", "Configuration operator"),
    ("release_lead", "发布管理组长", "Release lead"),
    ("release_operator", "发布管理员", "Release operator"),
    ("service_level_lead", "服务级别管理组长", "Service-level lead"),
    ("service_level_operator", "服务级别管理员", "Service-level operator"),
    ("continuity_lead", "服务持续性管理组长", "Continuity lead"),
    ("continuity_operator", "服务持续性管理员", "Continuity operator"),
    ("security_lead", "信息安全管理组长", "Security lead"),
    ("security_operator", "信息安全管理员", "Security operator"),
    ("knowledge_lead", "知识管理组长", "Knowledge lead"),
    ("knowledge_operator", "知识管理员", "Knowledge operator"),
    ("process_owner", "流程负责人", "Process owner"),
    ("auditor", "审计员", "Auditor"),
    ("administrator", "系统管理员", "Administrator"),
]
DESK_TIERS = ("call_taking", "basic", "skilled", "expert")
LEVELS = ("national", "provincial", "municipal", "county")


def ensure_groups() -> int:
    """Create the spec's role groups that do not exist yet; return how many were created."""
    existing = set(db.session.scalars(select(Group.code)))
    created = 0
    for code, name, name_en in ROLES:
        if code not in existing:
            db.session.add(Group(code=code, name=name, name_en=name_en))
            created += 1
    db.session.flush()
    return created


def group_by_code(code: str) -> Group:
    group = db.session.scalar(select(Group).where(Group.code == code))
    if group is None:
        raise NotFound(f"no group {code!r}")
    return group


def create_organisation(code: str, name: str, level: str, parent: Organisation | None = None) -> Organisation:
    """Add an organisation; levels must descend from national to county."""
    if level not in LEVELS:
        raise ValidationFailed("unknown level", {"level": [f"one of {', '.join(LEVELS)}"]})
    if parent is not None and LEVELS.index(level) <= LEVELS.index(parent.level):
        raise ValidationFailed("level must be below the parent's", {"level": ["below the parent level"]})
    org = Organisation(code=code, name=name, level=level, parent=parent)
    db.session.add(org)
    db.session.flush()
    return org


def create_user(
    username: str,
    password: str | None,
    organisation: Organisation,
    *,
    display_name: str = "",
    groups: list[str] | None = None,
    desk_tier: str | None = None,
    email: str = "",
    password_hash: str | None = None,
) -> User:
    """Add a user with a hashed password (or a hash from `hash_password`) and group memberships."""
    if (password is None) == (password_hash is None):
        raise ValueError("give either a password or a password hash")
    if db.session.scalar(select(User.id).where(User.username == username)):
        raise ValidationFailed("username taken", {"username": ["already exists"]})
    if desk_tier is not None and desk_tier not in DESK_TIERS:
        raise ValidationFailed("unknown tier", {"desk_tier": [f"one of {', '.join(DESK_TIERS)}"]})
    user = User(username=username, display_name=display_name or username, organisation=organisation, email=email)
    if password is not None:
        user.set_password(password)
    else:
        user.password_hash = password_hash
    for code in groups or []:
        user.memberships.append(UserGroup(group=group_by_code(code),
                                          tier=desk_tier if code == "service_desk" else None))
    db.session.add(user)
    db.session.flush()
    return user


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="api-token")


def issue_token(user: User) -> str:
    """A signed, expiring bearer token bound to the user's token version."""
    return _signer().dumps({"uid": user.id, "v": user.token_version})


def _user_with_groups(user_id: int) -> User | None:
    # Groups in the same round trip (every request checks them); the statement is built once, as building it
    # cost more than running it.
    return db.session.execute(_user_statement(), {"user_id": user_id}).unique().scalar_one_or_none()


@lru_cache(maxsize=1)
def _user_statement() -> Any:
    return select(User).options(joinedload(User.memberships)).where(User.id == bindparam("user_id"))


def active_user(user_id: int) -> User | None:
    """The active user with this id, groups loaded in the same round trip (every request checks them)."""
    user = _user_with_groups(user_id)
    return user if user is not None and user.active else None


def user_from_token(token: str) -> User | None:
    """Resolve a bearer token to its user, or None when invalid, expired or revoked."""
    try:
        payload: dict[str, Any] = _signer().loads(token, max_age=current_app.config["API_TOKEN_MAX_AGE"])
    except (BadSignature, SignatureExpired):
        return None
    # Groups in the same round trip: every API call checks them.
    uid = payload.get("uid")
    user = _user_with_groups(uid) if isinstance(uid, int) else None
    if user is None or not user.active or user.token_version != payload.get("v"):
        return None
    return user


def list_groups(actor: User) -> list[Group]:
    """Groups with their members; for administrators and auditors only."""
    if not actor.in_group("administrator", "auditor"):
        raise Forbidden(_("Only administrators and auditors may list group members."))
    return list(db.session.scalars(select(Group).order_by(Group.id)))
