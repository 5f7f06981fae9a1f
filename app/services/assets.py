"""IT asset management (spec 6.2(1)): network devices, servers, PCs, printers, components, software
licences and spares; lifecycle procurement -> stock -> in_use -> repair -> retired; assignment to users
and places; warranty and contract reminders; spare stock; the CI that represents an asset."""
from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import func, or_, select

from ..extensions import db
from ..models import Asset, AssetHistory, ConfigurationItem, User
from . import cmdb
from .errors import Conflict, Forbidden, NotFound, ValidationFailed

TYPES = ("network_device", "server", "pc", "printer", "component", "software_licence", "spare")
PREFIX = {"network_device": "AN", "server": "AS", "pc": "AP", "printer": "AR", "component": "AC",
          "software_licence": "AL", "spare": "AX"}
STATUSES = ("procurement", "stock", "in_use", "repair", "retired")
TRANSITIONS: dict[str, set[str]] = {
    "procurement": {"stock", "retired"},
    "stock": {"in_use", "repair", "retired"},
    "in_use": {"stock", "repair", "retired"},
    "repair": {"stock", "in_use", "retired"},
    "retired": set(),
}
WRITER_GROUPS = ("configuration_lead", "configuration_operator")
_EDITABLE = ("name", "serial_number", "supplier", "location", "purchase_date", "warranty_end", "contract_end",
             "quantity", "min_stock", "notes")
_DATES = ("purchase_date", "warranty_end", "contract_end")


def _require_read(user: User) -> None:
    if not user.memberships:
        raise Forbidden(_("Only staff may view assets."))


def _require_write(user: User, asset: Asset | None = None) -> None:
    if not user.in_group(*WRITER_GROUPS):
        raise Forbidden(_("Only configuration management may change assets."))
    if asset is not None and asset.organisation_id not in cmdb.org_subtree(user.organisation_id):
        raise Forbidden(_("This asset belongs to another organisation."))


def _scoped(user: User, stmt: Any) -> Any:
    orgs = cmdb.visible_orgs(user)
    return stmt if orgs is None else stmt.where(Asset.organisation_id.in_(orgs))


def _date(name: str, value: Any) -> date | None:
    if value in (None, ""):
        return None
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValidationFailed(_("Invalid date."), {name: [_("Use YYYY-MM-DD.")]}) from None


def _int(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationFailed(_("Invalid number."), {name: [_("Enter a whole number.")]}) from None
    if number < 0:
        raise ValidationFailed(_("Invalid number."), {name: [_("Must not be negative.")]})
    return number


def _log(asset: Asset, field: str, old: Any, new: Any, actor: User | None) -> None:
    db.session.add(AssetHistory(asset_id=asset.id, field=field, old_value=None if old is None else str(old)[:500],
                                new_value=None if new is None else str(new)[:500],
                                actor_id=actor.id if actor else None))


def create_asset(actor: User, *, asset_type: str, name: str, **fields: Any) -> Asset:
    _require_write(actor)
    if asset_type not in TYPES:
        raise ValidationFailed(_("Unknown asset type."), {"asset_type": [_("Unknown asset type.")]})
    if not (name or "").strip():
        raise ValidationFailed(_("A name is required."), {"name": [_("Required.")]})
    org_id = actor.organisation_id
    count = db.session.scalar(select(func.count()).select_from(Asset).where(Asset.asset_type == asset_type)) or 0
    tag = f"{PREFIX[asset_type]}-{actor.organisation.code.upper()}-{count + 1:05d}"
    while db.session.scalar(select(Asset.id).where(Asset.tag == tag)):
        count += 1
        tag = f"{PREFIX[asset_type]}-{actor.organisation.code.upper()}-{count + 1:05d}"
    asset = Asset(tag=tag, name=name.strip()[:200], asset_type=asset_type, status="procurement", organisation_id=org_id)
    db.session.add(asset)
    db.session.flush()
    _apply_fields(asset, fields, actor, log=False)
    _log(asset, "created", None, asset.tag, actor)
    db.session.flush()
    return asset


def _apply_fields(asset: Asset, fields: dict[str, Any], actor: User, log: bool = True) -> None:
    for name, value in fields.items():
        if name not in _EDITABLE:
            continue
        if name in _DATES:
            value = _date(name, value)
        elif name in ("quantity", "min_stock"):
            value = _int(name, value if value not in (None, "") else 0)
        else:
            value = str(value or "").strip()
        old = getattr(asset, name)
        if old != value:
            setattr(asset, name, value)
            if log:
                _log(asset, name, old, value, actor)


def update_asset(actor: User, asset: Asset, fields: dict[str, Any]) -> Asset:
    _require_write(actor, asset)
    _apply_fields(asset, fields, actor)
    db.session.flush()
    return asset


def transition(actor: User, asset: Asset, status: str) -> Asset:
    _require_write(actor, asset)
    if status not in STATUSES:
        raise ValidationFailed(_("Unknown status."), {"status": [_("Unknown status.")]})
    if status not in TRANSITIONS[asset.status]:
        raise Conflict(_("An asset cannot go from %(a)s to %(b)s.", a=asset.status, b=status))
    _log(asset, "status", asset.status, status, actor)
    asset.status = status
    if status in ("stock", "retired") and asset.assigned_user_id is not None:
        _log(asset, "assigned_user", asset.assigned_user.username if asset.assigned_user else None, None, actor)
        asset.assigned_user = None
    db.session.flush()
    return asset


def assign(actor: User, asset: Asset, user: User | None, location: str | None = None) -> Asset:
    """Assign to a user and/or a place; an asset in stock goes into use."""
    _require_write(actor, asset)
    if asset.status in ("procurement", "retired"):
        raise Conflict(_("Only assets in stock, in use or in repair can be assigned."))
    old_user = asset.assigned_user.username if asset.assigned_user else None
    new_user = user.username if user else None
    if old_user != new_user:
        _log(asset, "assigned_user", old_user, new_user, actor)
        asset.assigned_user = user
    if location is not None and location != asset.location:
        _log(asset, "location", asset.location, location, actor)
        asset.location = location
    if asset.status == "stock" and user is not None:
        _log(asset, "status", asset.status, "in_use", actor)
        asset.status = "in_use"
    db.session.flush()
    return asset


def link_ci(actor: User, asset: Asset, ci: ConfigurationItem | None) -> Asset:
    _require_write(actor, asset)
    _log(asset, "ci", asset.ci.code if asset.ci else None, ci.code if ci else None, actor)
    asset.ci = ci
    db.session.flush()
    return asset


def adjust_stock(actor: User, asset: Asset, delta: int) -> Asset:
    """Spare parts: receive (+) or issue (-) units; stock never goes below zero."""
    _require_write(actor, asset)
    if asset.quantity + delta < 0:
        raise Conflict(_("Not enough units in stock (%(n)s).", n=asset.quantity))
    _log(asset, "quantity", asset.quantity, asset.quantity + delta, actor)
    asset.quantity += delta
    db.session.flush()
    return asset


def get_asset(user: User, tag: str) -> Asset:
    _require_read(user)
    asset = db.session.scalar(select(Asset).where(Asset.tag == tag))
    if asset is None:
        raise NotFound(_("Asset %(tag)s does not exist.", tag=tag))
    orgs = cmdb.visible_orgs(user)
    if orgs is not None and asset.organisation_id not in orgs:
        raise Forbidden(_("This asset belongs to another organisation."))
    return asset


def list_assets(user: User, q: str = "", asset_type: str | None = None, status: str | None = None) -> list[Asset]:
    _require_read(user)
    stmt = _scoped(user, select(Asset))
    if q:
        stmt = stmt.where(or_(Asset.tag.ilike(f"%{q}%"), Asset.name.ilike(f"%{q}%"),
                              Asset.serial_number.ilike(f"%{q}%"), Asset.location.ilike(f"%{q}%")))
    if asset_type:
        stmt = stmt.where(Asset.asset_type == asset_type)
    if status:
        stmt = stmt.where(Asset.status == status)
    return list(db.session.scalars(stmt.order_by(Asset.tag).limit(500)))


def history(asset: Asset) -> list[AssetHistory]:
    return list(db.session.scalars(select(AssetHistory).where(AssetHistory.asset_id == asset.id)
                                   .order_by(AssetHistory.id.desc())))


def reminders(user: User, days: int = 30, today: date | None = None) -> list[dict[str, Any]]:
    """Warranties and contracts ending within `days` (or already ended) of assets not retired."""
    _require_read(user)
    today = today or date.today()
    horizon = today + timedelta(days=days)
    stmt = _scoped(user, select(Asset).where(Asset.status != "retired", or_(
        Asset.warranty_end <= horizon, Asset.contract_end <= horizon)))
    out = []
    for asset in db.session.scalars(stmt):
        for kind in ("warranty_end", "contract_end"):
            end = getattr(asset, kind)
            if end is not None and end <= horizon:
                out.append({"asset": asset, "kind": kind, "date": end, "days_left": (end - today).days})
    out.sort(key=lambda r: r["date"])
    return out


def low_stock(user: User) -> list[Asset]:
    _require_read(user)
    stmt = _scoped(user, select(Asset).where(Asset.asset_type == "spare", Asset.status != "retired",
                                             Asset.quantity <= Asset.min_stock))
    return list(db.session.scalars(stmt.order_by(Asset.tag)))


def statistics(user: User) -> dict[str, Any]:
    _require_read(user)
    by_type = dict(db.session.execute(_scoped(user, select(Asset.asset_type, func.count()).group_by(
        Asset.asset_type))).all())
    by_status = dict(db.session.execute(_scoped(user, select(Asset.status, func.count()).group_by(
        Asset.status))).all())
    spares = db.session.scalar(_scoped(user, select(func.coalesce(func.sum(Asset.quantity), 0)).where(
        Asset.asset_type == "spare"))) or 0
    return {"by_type": by_type, "by_status": by_status, "total": sum(by_type.values()), "spare_units": int(spares),
            "low_stock": len(low_stock(user)), "reminders_30": len(reminders(user, 30))}
