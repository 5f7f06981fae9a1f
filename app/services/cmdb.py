"""The CMDB (spec 6.1.5): CI classes and their attributes, lifecycle, coding rule, relations, access,
impact analysis, CI control (changes only through an approved change), drift detection, baselines,
import and export.

Coding rule: a CI's identifier is ``<CLASS PREFIX>-<ORGANISATION CODE>-<5-digit sequence>``, e.g.
``SRV-COUNTY-00001``; the sequence counts per class prefix and organisation and never reuses a number.
Existing identifiers (e.g. demo data, imports carrying a code) are kept as they are.
"""
from __future__ import annotations

import csv
import io
import json
import secrets
import threading
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from flask_babel import gettext as _
from jsonschema import Draft202012Validator, FormatChecker
from sqlalchemy import Engine, Integer, any_, bindparam, event, func, or_, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from sqlalchemy.pool import Pool

from ..extensions import db
from ..models import (
    BusinessKeyCounter,
    CIBaseline,
    CIChange,
    CIRelation,
    ConfigurationItem,
    Incident,
    IncidentCI,
    InstanceLink,
    Organisation,
    ProcessInstance,
    User,
)
from . import tabular
from .audit import append_event
from .errors import Conflict, Forbidden, NotFound, ValidationFailed

# --- classes and attributes ------------------------------------------------------------------------

def _title(chinese: str, english: str) -> dict[str, Any]:
    # Translated as forms are ("x-translations"), so one renderer (services.forms.localized) shows both.
    return {"title": chinese, "x-translations": {"en": {"title": english}}}


# Attribute catalogue: name -> JSON Schema fragment.
ATTRIBUTES: dict[str, dict[str, Any]] = {
    "serial_number": {"type": "string", "maxLength": 100, **_title("序列号", "Serial number")},
    "model": {"type": "string", "maxLength": 100, **_title("型号", "Model")},
    "version": {"type": "string", "maxLength": 50, **_title("版本", "Version")},
    "purchase_date": {"type": "string", "format": "date", **_title("购置日期", "Purchase date")},
    "location": {"type": "string", "maxLength": 200, **_title("位置", "Location")},
    "ip_address": {"type": "string", "format": "ipv4", **_title("IP地址", "IP address")},
    "hostname": {"type": "string", "maxLength": 200, "pattern": "^[A-Za-z0-9.-]+$", **_title("主机名", "Host name")},
    "owner_organisation": {"type": "string", "maxLength": 200, **_title("归属单位", "Owning organisation")},
    "supplier": {"type": "string", "maxLength": 200, **_title("供应商", "Supplier")},
    "description": {"type": "string", "maxLength": 2000, **_title("说明", "Description")},
    "os": {"type": "string", "maxLength": 100, **_title("操作系统", "Operating system")},
    "cpu_cores": {"type": "integer", "minimum": 1, "maximum": 4096, **_title("CPU核数", "CPU cores")},
    "memory_gb": {"type": "number", "minimum": 0, **_title("内存(GB)", "Memory (GB)")},
    "capacity_tb": {"type": "number", "minimum": 0, **_title("容量(TB)", "Capacity (TB)")},
    "ports": {"type": "integer", "minimum": 0, "maximum": 10000, **_title("端口数", "Ports")},
    "engine": {"type": "string", "maxLength": 50, **_title("数据库类型", "Database engine")},
    "port": {"type": "integer", "minimum": 1, "maximum": 65535, **_title("端口", "Port")},
    "url": {"type": "string", "maxLength": 500, "pattern": "^https?://", **_title("网址", "Web address")},
    "licence": {"type": "string", "maxLength": 200, **_title("许可", "Licence")},
    "assigned_user": {"type": "string", "maxLength": 100, **_title("使用人", "Assigned user")},
    "document_number": {"type": "string", "maxLength": 100, **_title("文档编号", "Document number")},
    "service_level": {"type": "string", "maxLength": 100, **_title("服务级别", "Service level")},
    "service_users": {"type": "string", "maxLength": 500, **_title("服务对象", "Service users")},
    "user_count": {"type": "integer", "minimum": 0, **_title("用户数", "Number of users")},
}
_COMMON = ["owner_organisation", "supplier", "location", "description"]
_HW = ["serial_number", "model", "purchase_date"]

# class -> (prefix, Chinese name, English name, attributes)
CLASSES: dict[str, tuple[str, str, str, list[str]]] = {
    "network_device": ("NET", "网络设备", "Network device", _HW + ["ip_address", "hostname", "ports"]),
    "server": ("SRV", "服务器", "Server", _HW + ["ip_address", "hostname", "os", "cpu_cores", "memory_gb"]),
    "storage": ("STO", "存储设备", "Storage", _HW + ["ip_address", "hostname", "capacity_tb"]),
    "security_device": ("SEC", "安全设备", "Security device", _HW + ["ip_address", "hostname", "version"]),
    "system_software": ("SSW", "系统软件", "System software", ["version", "licence", "hostname"]),
    "application": ("APP", "应用系统", "Application", ["version", "url", "hostname"]),
    "database": ("DB", "数据库", "Database", ["engine", "version", "ip_address", "hostname", "port"]),
    "website": ("WEB", "网站", "Website", ["url", "ip_address", "hostname"]),
    "terminal": ("TRM", "终端", "Terminal", _HW + ["ip_address", "hostname", "assigned_user"]),
    "machine_room_facility": ("FAC", "机房设施", "Machine-room facility", _HW + ["capacity_tb"]),
    "document": ("DOC", "文档", "Document", ["version", "document_number"]),
    "service": ("SVC", "服务", "Service", ["service_level", "service_users", "user_count"]),
}

STATUSES = ("planned", "in_use", "under_maintenance", "retired", "disposed")
TRANSITIONS: dict[str, set[str]] = {
    "planned": {"in_use", "disposed"},
    "in_use": {"under_maintenance", "retired"},
    "under_maintenance": {"in_use", "retired"},
    "retired": {"in_use", "disposed"},
    "disposed": set(),
}
# Relation types: source <type> target.
RELATION_TYPES = ("runs_on", "depends_on", "connected_to", "part_of", "provides_service")
# When a CI fails, who is affected: relations where the failing CI is the target (the source is affected) ...
_AFFECTS_SOURCE = ("runs_on", "depends_on", "connected_to")
# ... and relations where the failing CI is the source (the target is affected).
_AFFECTS_TARGET = ("part_of", "provides_service", "connected_to")
WRITER_GROUPS = ("configuration_lead", "configuration_operator")
CORE_FIELDS = ("name", "status")
_CHUNK = 500


def class_schema(ci_type: str) -> dict[str, Any]:
    """The JSON Schema of a class's attributes (one shared object per class: read it, do not change it)."""
    if ci_type not in CLASSES:
        raise ValidationFailed(_("Unknown CI class."), {"ci_type": [_("Unknown CI class %(c)s.", c=ci_type)]})
    return _class_schema(ci_type)


@cache
def _class_schema(ci_type: str) -> dict[str, Any]:
    names = list(dict.fromkeys(CLASSES[ci_type][3] + _COMMON))
    return {"type": "object", "properties": {n: ATTRIBUTES[n] for n in names}, "additionalProperties": False}


def validate_attributes(ci_type: str, attributes: dict[str, Any]) -> dict[str, Any]:
    """Drop empty values, validate against the class schema; ValidationFailed names each bad attribute."""
    cleaned = {k: v for k, v in (attributes or {}).items() if v not in (None, "")}
    validator = Draft202012Validator(class_schema(ci_type), format_checker=FormatChecker())
    errors: dict[str, list[str]] = {}
    for err in validator.iter_errors(cleaned):
        name = err.path[0] if err.path else (
            next(iter(set(cleaned) - set(class_schema(ci_type)["properties"])), "attributes"))
        if err.validator == "additionalProperties":
            errors.setdefault(str(name), []).append(_("Not an attribute of this class."))
        else:
            errors.setdefault(str(name), []).append(err.message)
    if errors:
        raise ValidationFailed(_("Invalid attributes for class %(c)s.", c=ci_type), errors)
    return cleaned


def coerce_attribute(ci_type: str, name: str, value: Any) -> Any:
    """Turn text (form, CSV) into the attribute's JSON type; unknown stays text and fails validation."""
    spec = class_schema(ci_type)["properties"].get(name, {})
    if value is None or value == "":
        return None
    if spec.get("type") == "integer":
        try:
            return int(str(value).strip())
        except ValueError:
            return value
    if spec.get("type") == "number":
        try:
            return float(str(value).strip())
        except ValueError:
            return value
    return str(value).strip() if not isinstance(value, str) else value.strip()


# --- access ------------------------------------------------------------------------------------------

def org_subtree(org_id: int) -> set[int]:
    """The organisation and every organisation below it."""
    children: dict[int | None, list[int]] = {}
    for oid, parent in db.session.execute(select(Organisation.id, Organisation.parent_id)):
        children.setdefault(parent, []).append(oid)
    seen, stack = {org_id}, [org_id]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in seen:
                seen.add(child)
                stack.append(child)
    return seen


def visible_orgs(user: User) -> set[int] | None:
    """Organisations whose CIs the user sees (None: all)."""
    if user.in_group("administrator", "auditor"):
        return None
    return org_subtree(user.organisation_id)


def can_read(user: User) -> bool:
    return bool(user.memberships)


def can_write(user: User) -> bool:
    return user.in_group(*WRITER_GROUPS)


def _require_read(user: User) -> None:
    if not can_read(user):
        raise Forbidden(_("Only staff may view the CMDB."))


def _require_write(user: User, ci: ConfigurationItem | None = None, org_id: int | None = None) -> None:
    if not can_write(user):
        raise Forbidden(_("Only configuration management may change the CMDB."))
    target = org_id if org_id is not None else (ci.organisation_id if ci is not None else None)
    if target is not None and target not in org_subtree(user.organisation_id):
        raise Forbidden(_("This configuration item belongs to another organisation."))


def scoped(user: User, query: Any) -> Any:
    orgs = visible_orgs(user)
    return query if orgs is None else query.where(ConfigurationItem.organisation_id.in_(orgs))


def list_cis(user: User, q: str = "", ci_type: str | None = None, status: str | None = None,
             limit: int = 200) -> list[ConfigurationItem]:
    _require_read(user)
    query = scoped(user, select(ConfigurationItem))
    if q:
        like = f"%{q}%"
        query = query.where(or_(ConfigurationItem.code.ilike(like), ConfigurationItem.name.ilike(like),
                                ConfigurationItem.hostname.ilike(like), ConfigurationItem.ip_address == q))
    if ci_type:
        query = query.where(ConfigurationItem.ci_type == ci_type)
    if status:
        query = query.where(ConfigurationItem.status == status)
    return list(db.session.scalars(query.order_by(ConfigurationItem.code).limit(limit)))


def get_ci(user: User, code: str) -> ConfigurationItem:
    _require_read(user)
    ci = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == code))
    if ci is None:
        raise NotFound(_("Configuration item %(code)s does not exist.", code=code))
    orgs = visible_orgs(user)
    if orgs is not None and ci.organisation_id not in orgs:
        raise Forbidden(_("This configuration item belongs to another organisation."))
    return ci


def _ci_by_code(code: str) -> ConfigurationItem:
    ci = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == code))
    if ci is None:
        raise NotFound(_("Configuration item %(code)s does not exist.", code=code))
    return ci


# --- creation and coding rule ------------------------------------------------------------------------

def next_code(ci_type: str, organisation: Organisation) -> str:
    """``<PREFIX>-<ORG>-<00001>`` from a per prefix and organisation counter."""
    prefix = CLASSES[ci_type][0]
    org = organisation.code.upper()
    key = f"CI:{prefix}-{org}"[:40]
    for _attempt in range(3):
        value = db.session.execute(
            update(BusinessKeyCounter).where(BusinessKeyCounter.key == key)
            .values(value=BusinessKeyCounter.value + 1).returning(BusinessKeyCounter.value)).scalar()
        if value is None:
            try:
                with db.session.begin_nested():
                    db.session.add(BusinessKeyCounter(key=key, value=1))
                value = 1
            except IntegrityError:
                continue
        code = f"{prefix}-{org}-{value:05d}"
        if db.session.scalar(select(ConfigurationItem.id).where(ConfigurationItem.code == code)) is None:
            return code
    raise Conflict(_("Could not allocate a configuration item code; please retry."))


def _sync_match_columns(ci: ConfigurationItem) -> None:
    attrs = ci.attributes or {}
    ci.ip_address = attrs.get("ip_address") or None
    ci.hostname = (attrs.get("hostname") or "").lower() or None


def _history(ci: ConfigurationItem, field_name: str, old: Any, new: Any, key: str, actor: User | None,
             instance: ProcessInstance | None = None) -> None:
    def text(v: Any) -> str | None:
        return None if v is None else (v if isinstance(v, str) else json.dumps(v, ensure_ascii=False))[:500]

    db.session.add(CIChange(ci=ci, field=field_name[:40], old_value=text(old), new_value=text(new),
                            change_key=key, instance_id=instance.id if instance else None,
                            actor_id=actor.id if actor else None))


def create_ci(actor: User, *, ci_type: str, name: str, organisation: Organisation | None = None,
              attributes: dict[str, Any] | None = None, status: str = "planned", code: str | None = None,
              controlled: bool = True) -> ConfigurationItem:
    """Register a CI (configuration management only) with a generated code and a history row."""
    org = organisation or actor.organisation
    _require_write(actor, org_id=org.id)
    if not name.strip():
        raise ValidationFailed(_("A name is required."), {"name": [_("Required.")]})
    if status not in STATUSES:
        raise ValidationFailed(_("Unknown status."), {"status": [_("Unknown status.")]})
    attrs = validate_attributes(ci_type, attributes or {})
    if code and db.session.scalar(select(ConfigurationItem.id).where(ConfigurationItem.code == code)):
        raise Conflict(_("Configuration item %(code)s already exists.", code=code))
    ci = ConfigurationItem(code=code or next_code(ci_type, org), name=name.strip()[:200], ci_type=ci_type,
                           status=status, organisation_id=org.id, attributes=attrs, controlled=controlled)
    _sync_match_columns(ci)
    db.session.add(ci)
    _history(ci, "created", None, {"name": ci.name, "ci_type": ci_type, "status": status, **attrs},
             "CREATE", actor)
    db.session.flush()
    return ci


def _check_status(ci: ConfigurationItem, new: str) -> None:
    if new not in STATUSES:
        raise ValidationFailed(_("Unknown status."), {"status": [_("Unknown status %(s)s.", s=new)]})
    if new != ci.status and new not in TRANSITIONS[ci.status]:
        raise Conflict(_("A configuration item cannot go from %(a)s to %(b)s.", a=ci.status, b=new))


def _apply(ci: ConfigurationItem, changes: dict[str, Any], key: str, actor: User | None,
           instance: ProcessInstance | None) -> list[tuple[str, Any, Any]]:
    """Validate and apply {field: value}; core fields and class attributes; returns what changed."""
    done: list[tuple[str, Any, Any]] = []
    attrs = dict(ci.attributes or {})
    for name, value in changes.items():
        if name == "name":
            if not str(value or "").strip():
                raise ValidationFailed(_("A name is required."), {"name": [_("Required.")]})
            if value != ci.name:
                done.append(("name", ci.name, value))
        elif name == "status":
            _check_status(ci, str(value))
            if value != ci.status:
                done.append(("status", ci.status, value))
        else:
            value = coerce_attribute(ci.ci_type, name, value)
            if attrs.get(name) != value:
                done.append((name, attrs.get(name), value))
            if value is None:
                attrs.pop(name, None)
            else:
                attrs[name] = value
    attrs = validate_attributes(ci.ci_type, attrs)
    for name, old, new in done:
        if name in CORE_FIELDS:
            setattr(ci, name, new)
        _history(ci, name, old, new, key, actor, instance)
    ci.attributes = attrs
    _sync_match_columns(ci)
    return done


def update_ci(actor: User, ci: ConfigurationItem, changes: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    """A direct edit: only for CIs not under control; a controlled CI changes only through a change."""
    _require_write(actor, ci)
    if ci.controlled:
        raise Conflict(_("%(code)s is a controlled configuration item: its attributes change only through an "
                         "approved change (submit a request for change).", code=ci.code))
    done = _apply(ci, changes, "DIRECT", actor, None)
    db.session.flush()
    return done


def apply_change_item(instance: ProcessInstance, ci: ConfigurationItem, field_name: str, value: Any,
                      actor: User | None) -> list[tuple[str, Any, Any]]:
    """The path of change.apply_ci_changes for class attributes (and name/status with lifecycle rules)."""
    done = _apply(ci, {field_name: value}, instance.business_key, actor, instance)
    for name, old, new in done:
        append_event(instance, "ci_changed", actor=actor, data={"ci": ci.code, "field": name, "old": old, "new": new})
    return done


# --- relations ---------------------------------------------------------------------------------------

def add_relation(actor: User, source: ConfigurationItem, rel_type: str, target: ConfigurationItem) -> CIRelation:
    _require_write(actor, source)
    if rel_type not in RELATION_TYPES:
        raise ValidationFailed(_("Unknown relation type."), {"rel_type": [_("Unknown relation type.")]})
    if source.id == target.id:
        raise ValidationFailed(_("A CI cannot relate to itself."), {"target": [_("Choose another CI.")]})
    exists = db.session.scalar(select(CIRelation).where(
        CIRelation.source_id == source.id, CIRelation.target_id == target.id, CIRelation.rel_type == rel_type))
    if exists is not None:
        raise Conflict(_("This relation exists already."))
    rel = CIRelation(source_id=source.id, target_id=target.id, rel_type=rel_type)
    db.session.add(rel)
    _history(source, "relation_added", None, f"{rel_type} {target.code}", "DIRECT", actor)
    db.session.flush()
    return rel


def remove_relation(actor: User, relation: CIRelation) -> None:
    _require_write(actor, relation.source)
    _history(relation.source, "relation_removed", f"{relation.rel_type} {relation.target.code}", None,
             "DIRECT", actor)
    db.session.delete(relation)
    db.session.flush()


def relations_of(ci: ConfigurationItem) -> dict[str, list[CIRelation]]:
    out = list(db.session.scalars(select(CIRelation).where(CIRelation.source_id == ci.id).order_by(CIRelation.id)))
    inc = list(db.session.scalars(select(CIRelation).where(CIRelation.target_id == ci.id).order_by(CIRelation.id)))
    return {"outgoing": out, "incoming": inc}


# --- impact analysis ---------------------------------------------------------------------------------
#
# The traversal runs over the *topology*: for each CI, the CIs its failure affects directly (relations of
# _AFFECTS_SOURCE read target -> source, those of _AFFECTS_TARGET source -> target). Each process keeps the
# topology of the committed relations in memory, tagged with a token stored in business_key_counter
# (key TOPOLOGY_KEY). Every INSERT, UPDATE or DELETE on ci_relation (and every DELETE on
# configuration_item, which cascades to relations), whichever way it is issued (ORM, Core or text), sets a
# new random token in the same transaction (see _track_topology_writes), so a process reloads the topology
# when someone else's change has committed. A transaction that has itself written relations, and any
# database without a token yet, does not use the cache: it walks the relations with indexed queries instead
# (_traverse_sql), so it sees its own uncommitted relations. Both walks give the same answer.

TOPOLOGY_KEY = "CMDB:topology"
IMPACT_PAGE = 200        # affected CIs listed per page (the totals always cover all of them)
IMPACT_MAX_PAGE = 1000
_REL_CODE = {r: i for i, r in enumerate(RELATION_TYPES)}
_DIRTY = "cmdb_topology_written"  # Connection.info flag: this transaction wrote relations
_TOPOLOGY_SQL = ("INSERT INTO business_key_counter (key, value) VALUES (:k, :v) "
                 "ON CONFLICT (key) DO UPDATE SET value = excluded.value")


def _writes_topology(statement: str) -> bool:
    verb = statement.lstrip()[:6].upper()
    if verb not in ("INSERT", "UPDATE", "DELETE"):
        return False
    text_lower = statement.lower()
    return "ci_relation" in text_lower or (verb == "DELETE" and "configuration_item" in text_lower)


@event.listens_for(Engine, "after_cursor_execute")
def _track_topology_writes(conn: Any, _cursor: Any, statement: str, _params: Any, _context: Any,
                           _executemany: bool) -> None:
    """A write to the relations: mark this transaction and give the topology a new token (same transaction)."""
    if not _writes_topology(statement):
        return
    conn.info[_DIRTY] = True
    conn.execute(text(_TOPOLOGY_SQL), {"k": TOPOLOGY_KEY, "v": secrets.randbelow(2**31 - 2) + 1})


@event.listens_for(Engine, "commit")
@event.listens_for(Engine, "rollback")
def _end_of_transaction(conn: Any) -> None:
    conn.info.pop(_DIRTY, None)


@event.listens_for(Pool, "reset")
def _reset_connection(_dbapi_conn: Any, record: Any, _reset_state: Any) -> None:
    record.info.pop(_DIRTY, None)


@dataclass
class _Topology:
    token: int
    adjacency: dict[int, list[int]]  # ci id -> sorted [affected id << 3 | relation code]
    edges: int


_topologies: weakref.WeakKeyDictionary[Any, _Topology] = weakref.WeakKeyDictionary()
_topology_lock = threading.Lock()


def _load_topology(conn: Any, token: int) -> _Topology:
    adjacency: dict[int, list[int]] = {}
    up, down = set(_AFFECTS_SOURCE), set(_AFFECTS_TARGET)
    edges = 0
    for source, target, rel in conn.execute(select(CIRelation.source_id, CIRelation.target_id,
                                                   CIRelation.rel_type)):
        code = _REL_CODE.get(rel)
        if code is None:
            continue
        if rel in up:
            adjacency.setdefault(target, []).append(source << 3 | code)
            edges += 1
        if rel in down:
            adjacency.setdefault(source, []).append(target << 3 | code)
            edges += 1
    for targets in adjacency.values():
        targets.sort()
    return _Topology(token=token, adjacency=adjacency, edges=edges)


def topology(conn: Any | None = None) -> tuple[_Topology | None, str]:
    """The cached topology of the committed relations, loading it when its token changed.

    Returns (None, "sql") when it cannot be used: this transaction wrote relations, or there is no token.
    """
    conn = conn or db.session.connection()
    if conn.info.get(_DIRTY):
        return None, "sql"
    token = conn.execute(select(BusinessKeyCounter.value).where(BusinessKeyCounter.key == TOPOLOGY_KEY)).scalar()
    if token is None:
        return None, "sql"
    engine = conn.engine
    cached = _topologies.get(engine)
    if cached is not None and cached.token == token:
        return cached, "cached"
    with _topology_lock:
        cached = _topologies.get(engine)
        if cached is not None and cached.token == token:
            return cached, "cached"
        # The token was read first: a change committed meanwhile may already be in the edges read here,
        # but then its (newer) token differs and the next call reloads; never older edges under a newer token.
        cached = _load_topology(conn, token)
        _topologies[engine] = cached
    return cached, "loaded"


def _traverse_cached(topo: _Topology, ci_id: int, max_depth: int) -> dict[int, tuple[int, int, str]]:
    adjacency = topo.adjacency
    found: dict[int, Any] = {ci_id: None}
    frontier = [ci_id]
    depth = 0
    while frontier and depth < max_depth:
        depth += 1
        nxt: list[int] = []
        for via in frontier:  # ascending ids, ascending neighbours: the first edge is the smallest (via, rel)
            for packed in adjacency.get(via, ()):
                affected = packed >> 3
                if affected not in found:
                    found[affected] = (depth, via, packed & 7)
                    nxt.append(affected)
        nxt.sort()
        frontier = nxt
    del found[ci_id]
    return {k: (d, v, RELATION_TYPES[c]) for k, (d, v, c) in found.items()}


def _traverse_sql(ci_id: int, max_depth: int) -> dict[int, tuple[int, int, str]]:
    """The same walk with two indexed queries per level and 500 frontier CIs."""
    seen: dict[int, tuple[int, int, str]] = {}
    visited = {ci_id}
    frontier = [ci_id]
    depth = 0
    conn = db.session.connection()  # Core rows: no ORM result processing for what may be many edges
    while frontier and depth < max_depth:
        depth += 1
        best: dict[int, tuple[int, int]] = {}
        for chunk in _chunks(frontier):
            # Two queries, each answered from one of the (id, rel_type) indexes; an OR of both would scan.
            up = conn.execute(select(CIRelation.source_id, CIRelation.target_id, CIRelation.rel_type).where(
                CIRelation.target_id.in_(chunk), CIRelation.rel_type.in_(_AFFECTS_SOURCE))).fetchall()
            down = conn.execute(select(CIRelation.target_id, CIRelation.source_id, CIRelation.rel_type).where(
                CIRelation.source_id.in_(chunk), CIRelation.rel_type.in_(_AFFECTS_TARGET))).fetchall()
            for affected, via, rel in up + down:
                if affected not in visited:
                    key = (via, _REL_CODE[rel])
                    if affected not in best or key < best[affected]:
                        best[affected] = key
        for affected, (via, code) in best.items():
            visited.add(affected)
            seen[affected] = (depth, via, RELATION_TYPES[code])
        frontier = sorted(best)
    return seen


def impacted_ids(ci_id: int, max_depth: int = 50, stats: dict[str, Any] | None = None
                 ) -> dict[int, tuple[int, int, str]]:
    """Breadth first in the direction failure spreads; {id: (depth, via_id, rel_type)}.

    depth is the shortest distance from the failing CI; via and rel_type are the smallest (via id, relation)
    among the edges from depth - 1, so both walks agree. Each CI is expanded once, so cycles end.
    """
    topo, how = topology()
    found = _traverse_sql(ci_id, max_depth) if topo is None else _traverse_cached(topo, ci_id, max_depth)
    if stats is not None:
        stats["traversal"] = how
        stats["edges"] = topo.edges if topo is not None else None
    return found


@dataclass
class Impact:
    ci: ConfigurationItem
    affected: list[dict[str, Any]] = field(default_factory=list)  # one page: code, name, ci_type, status, ...
    services: list[dict[str, Any]] = field(default_factory=list)  # all affected services
    organisations: list[str] = field(default_factory=list)
    user_count: int = 0
    service_users: list[str] = field(default_factory=list)
    total: int = 0                                                # affected CIs in all
    by_class: dict[str, int] = field(default_factory=dict)        # affected CIs per class, all of them
    max_depth: int = 0
    offset: int = 0
    limit: int = IMPACT_PAGE
    found: dict[int, tuple[int, int, str]] = field(default_factory=dict, repr=False)
    stats: dict[str, Any] = field(default_factory=dict, repr=False)  # traversal path and phase timings (ms)

    @property
    def shown_from(self) -> int:
        return self.offset + 1 if self.affected else 0

    @property
    def shown_to(self) -> int:
        return self.offset + len(self.affected)

    @property
    def next_offset(self) -> int | None:
        return self.shown_to if self.shown_to < self.total else None

    @property
    def previous_offset(self) -> int | None:
        return max(0, self.offset - self.limit) if self.offset > 0 else None

    def as_dict(self) -> dict[str, Any]:
        return {"ci": self.ci.code, "total": self.total, "offset": self.offset, "limit": self.limit,
                "max_depth": self.max_depth, "by_class": self.by_class, "affected": self.affected,
                "services": self.services, "organisations": self.organisations,
                "users": {"count": self.user_count, "groups": self.service_users}}


def _chunks(ids: list[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), _CHUNK):
        yield ids[i:i + _CHUNK]


def _id_in(column: Any, ids: list[int], dialect: str) -> Any:
    """column IN ids as one bound value: a PostgreSQL array, a SQLite JSON array (not thousands of params)."""
    if len(ids) <= _CHUNK or dialect not in ("postgresql", "sqlite"):
        return column.in_(ids)
    if dialect == "postgresql":
        return column == any_(bindparam(None, ids, type_=postgresql.ARRAY(Integer)))
    return column.in_(select(func.json_each(json.dumps(ids)).table_valued("value").c.value))


def impact(user: User, ci: ConfigurationItem, limit: int = IMPACT_PAGE, offset: int = 0) -> Impact:
    """Which CIs, services, organisations and users are affected if this CI fails.

    The totals (total, by_class, services, organisations, users) cover every affected CI; `affected` lists
    one page of them, by depth then code, from `offset` (at most `limit`).
    """
    _require_read(user)
    limit = min(max(int(limit), 0), IMPACT_MAX_PAGE)
    offset = max(int(offset), 0)
    t0 = time.perf_counter()
    stats: dict[str, Any] = {}
    found = impacted_ids(ci.id, stats=stats)
    t1 = time.perf_counter()
    result = Impact(ci=ci, total=len(found), offset=offset, limit=limit, found=found, stats=stats)
    if found:
        _fill_impact(result, found)
    t2 = time.perf_counter()
    stats.update(traversal_ms=(t1 - t0) * 1000, rows_ms=(t2 - t1) * 1000, total_ms=(t2 - t0) * 1000)
    return result


def _fill_impact(result: Impact, found: dict[int, tuple[int, int, str]]) -> None:
    conn = db.session.connection()
    dialect = conn.dialect.name
    CI = ConfigurationItem  # noqa: N806
    ids = list(found)
    org_names = dict(conn.execute(select(Organisation.id, Organisation.name)).all())
    # Totals over every affected CI: one grouped query, nothing per CI leaves the database.
    by_class: dict[str, int] = {}
    orgs: set[str] = set()
    for ci_type, org_id, count in conn.execute(select(CI.ci_type, CI.organisation_id, func.count()).where(
            _id_in(CI.id, ids, dialect)).group_by(CI.ci_type, CI.organisation_id)):
        by_class[ci_type] = by_class.get(ci_type, 0) + count
        orgs.add(org_names.get(org_id) or "")
    result.by_class = dict(sorted(by_class.items()))
    result.organisations = sorted(o for o in orgs if o)
    levels: dict[int, list[int]] = {}
    for ci_id, (depth, _via, _rel) in found.items():
        levels.setdefault(depth, []).append(ci_id)
    result.max_depth = max(levels)
    columns = (CI.id, CI.code, CI.name, CI.ci_type, CI.status, CI.organisation_id)
    # The page: by depth then code; only the levels it spans are read, sorted and cut by the database.
    page = []
    position, wanted = 0, result.limit
    for depth in sorted(levels):
        level = levels[depth]
        if wanted <= 0:
            break
        if position + len(level) <= result.offset:
            position += len(level)
            continue
        start = max(0, result.offset - position)
        page.extend(conn.execute(select(*columns).where(_id_in(CI.id, level, dialect)).order_by(CI.code)
                                 .offset(start).limit(wanted)).all())
        wanted = result.limit - len(page)
        position += len(level)
    services = sorted(conn.execute(select(*columns, CI.attributes).where(
        _id_in(CI.id, ids, dialect), CI.ci_type == "service")).all(), key=lambda r: (found[r.id][0], r.code))
    vias = {found[r.id][1] for r in page} | {found[r.id][1] for r in services}
    codes = {result.ci.id: result.ci.code}
    vias -= set(codes)
    codes.update(conn.execute(select(CI.id, CI.code).where(_id_in(CI.id, sorted(vias), dialect))).all())

    def item(row: Any) -> dict[str, Any]:
        depth, via, rel = found[row.id]
        return {"code": row.code, "name": row.name, "ci_type": row.ci_type, "status": row.status,
                "depth": depth, "via": codes.get(via), "relation": rel,
                "organisation": org_names.get(row.organisation_id)}

    result.affected = [item(row) for row in page]
    for row in services:
        attrs = row.attributes or {}
        result.services.append({**item(row), "service_users": attrs.get("service_users"),
                                "user_count": attrs.get("user_count")})
        result.user_count += int(attrs.get("user_count") or 0)
        if attrs.get("service_users"):
            result.service_users.append(attrs["service_users"])


def impacted_among(result: Impact, codes: Iterable[str]) -> list[str]:
    """Which of these CI codes (e.g. the nodes of a graph) are affected, whatever page `result` shows."""
    codes = list(codes)
    if not codes or not result.found:
        return []
    rows = db.session.execute(select(ConfigurationItem.id, ConfigurationItem.code).where(
        ConfigurationItem.code.in_(codes))).all()
    return sorted(code for ci_id, code in rows if ci_id in result.found)


def neighbourhood(user: User, ci: ConfigurationItem, depth: int = 2, limit: int = 300) -> dict[str, list]:
    """Nodes and edges within `depth` relations of the CI, either direction (for the graph view)."""
    _require_read(user)
    nodes = {ci.id}
    edges: dict[int, tuple[int, int, str]] = {}
    frontier = [ci.id]
    for _level in range(depth):
        nxt: list[int] = []
        for chunk in _chunks(frontier):
            for rid, src, tgt, rel in db.session.execute(select(
                    CIRelation.id, CIRelation.source_id, CIRelation.target_id, CIRelation.rel_type).where(
                    or_(CIRelation.source_id.in_(chunk), CIRelation.target_id.in_(chunk))).limit(limit)):
                edges[rid] = (src, tgt, rel)
                for n in (src, tgt):
                    if n not in nodes and len(nodes) < limit:
                        nodes.add(n)
                        nxt.append(n)
        frontier = nxt
    cis = {c.id: c for c in db.session.scalars(select(ConfigurationItem).where(ConfigurationItem.id.in_(nodes)))}
    return {
        "nodes": [{"data": {"id": c.code, "label": f"{c.code}\n{c.name}", "ci_type": c.ci_type,
                            "status": c.status, "root": c.id == ci.id}} for c in cis.values()],
        "edges": [{"data": {"id": f"r{rid}", "source": cis[s].code, "target": cis[t].code, "label": rel}}
                  for rid, (s, t, rel) in edges.items() if s in cis and t in cis],
    }


# --- the CI page -------------------------------------------------------------------------------------

def history(ci: ConfigurationItem) -> list[CIChange]:
    return list(db.session.scalars(select(CIChange).where(CIChange.ci_id == ci.id).order_by(CIChange.id.desc())))


def linked_incidents(ci: ConfigurationItem, limit: int = 50) -> list[Incident]:
    return list(db.session.scalars(select(Incident).join(IncidentCI, IncidentCI.incident_id == Incident.id)
                                   .where(IncidentCI.ci_id == ci.id).order_by(Incident.id.desc()).limit(limit)))


def linked_cases(ci: ConfigurationItem) -> list[ProcessInstance]:
    """Changes that changed the CI and problems/changes linked to its incidents."""
    ids = set(db.session.scalars(select(CIChange.instance_id).where(
        CIChange.ci_id == ci.id, CIChange.instance_id.is_not(None))))
    inc_ids = list(db.session.scalars(select(Incident.instance_id).join(
        IncidentCI, IncidentCI.incident_id == Incident.id).where(IncidentCI.ci_id == ci.id)))
    if inc_ids:
        ids.update(db.session.scalars(select(InstanceLink.target_id).where(InstanceLink.source_id.in_(inc_ids))))
    if not ids:
        return []
    return list(db.session.scalars(select(ProcessInstance).where(ProcessInstance.id.in_(ids))
                                   .order_by(ProcessInstance.id)))


# --- observed configuration (discovery) and drift ----------------------------------------------------

def parse_records(content: bytes | str, fmt: str) -> list[dict[str, Any]]:
    """CSV (header row) or JSON (a list, or {"items": [...]}) records from a discovery tool."""
    text = content.decode("utf-8-sig") if isinstance(content, bytes) else content
    if fmt == "json":
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValidationFailed(_("The file is not valid JSON."), {"file": [str(exc)]}) from None
        items = data.get("items") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise ValidationFailed(_("Expected a list of objects."), {"file": [_("Expected a list of objects.")]})
        return items
    return [{k.strip(): tabular.from_csv_cell((v or "").strip()) for k, v in row.items() if k}
            for row in csv.DictReader(io.StringIO(text))]


def _match_observed(record: dict[str, Any]) -> ConfigurationItem | None:
    if record.get("code"):
        return db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == str(record["code"])))
    if record.get("hostname"):
        found = db.session.scalar(select(ConfigurationItem).where(
            ConfigurationItem.hostname == str(record["hostname"]).lower()).limit(1))
        if found is not None:
            return found
    if record.get("ip_address"):
        return db.session.scalar(select(ConfigurationItem).where(
            ConfigurationItem.ip_address == str(record["ip_address"])).limit(1))
    return None


def _same(a: Any, b: Any) -> bool:
    return str(a if a is not None else "").strip().lower() == str(b if b is not None else "").strip().lower()


def detect_drift(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Differences between observed records and the CMDB: per CI the attributes that differ; unknown items."""
    drift: list[dict[str, Any]] = []
    for record in records:
        ci = _match_observed(record)
        if ci is None:
            ident = record.get("code") or record.get("hostname") or record.get("ip_address") or "?"
            drift.append({"ci": None, "observed": str(ident), "differences": [], "unregistered": True})
            continue
        props = class_schema(ci.ci_type)["properties"]
        diffs = []
        for key, value in record.items():
            if key == "code" or value in (None, ""):
                continue
            if key in CORE_FIELDS:
                current = getattr(ci, key)
            elif key in props:
                current = (ci.attributes or {}).get(key)
            else:
                continue
            if not _same(current, value):
                diffs.append({"field": key, "cmdb": current, "observed": value})
        if diffs:
            drift.append({"ci": ci.code, "observed": ci.code, "differences": diffs, "unregistered": False,
                          "organisation_id": ci.organisation_id})
    return drift


def import_observed(actor: User, records: list[dict[str, Any]], source: str = "discovery") -> dict[str, Any]:
    """Compare an observed configuration with the CMDB; drift raises an unauthorised-change incident."""
    from . import incident as incident_service
    from . import instances

    _require_write(actor)
    drift = detect_drift(records)
    result: dict[str, Any] = {"checked": len(records), "drift": drift, "incident": None}
    if not drift:
        return result
    lines = [_("Unauthorised change: the observed configuration (%(src)s) differs from the CMDB.", src=source)]
    for item in drift:
        if item["unregistered"]:
            lines.append(_("- %(id)s is not registered in the CMDB.", id=item["observed"]))
        for d in item["differences"]:
            lines.append(_("- %(ci)s %(field)s: CMDB %(old)s, observed %(new)s.", ci=item["ci"], field=d["field"],
                           old=d["cmdb"], new=d["observed"]))
    codes = sorted({d["ci"] for d in drift if d["ci"]})[:50]
    org_id = next((d["organisation_id"] for d in drift if d.get("organisation_id")), actor.organisation_id)
    data = {"reporter_name": actor.display_name[:100], "reporter_contact": (actor.email or actor.username)[:200],
            "channel": "system", "symptoms": "\n".join(lines)[:4000], "affected_cis": codes,
            "error_codes": "UNAUTHORISED_CHANGE", "impact": "medium", "urgency": "medium", "category": "other"}
    instance = instances.start_instance(incident_service.PROCESS_ID, actor, data,
                                        organisation=db.session.get(Organisation, org_id))
    append_event(instance, "configuration_drift", actor=actor, data={"source": source, "drift": drift})
    db.session.flush()
    result["incident"] = {"id": instance.id, "business_key": instance.business_key}
    return result


# --- baselines ---------------------------------------------------------------------------------------

def snapshot(cis: list[ConfigurationItem]) -> dict[str, Any]:
    """{code: {name, ci_type, status, attributes, relations: ["runs_on X", ...]}} for these CIs."""
    ids = [c.id for c in cis]
    codes = dict(db.session.execute(select(ConfigurationItem.id, ConfigurationItem.code)).all()) if ids else {}
    rels: dict[int, list[str]] = {}
    for chunk in _chunks(ids):
        for src, tgt, rel in db.session.execute(select(CIRelation.source_id, CIRelation.target_id,
                                                       CIRelation.rel_type).where(CIRelation.source_id.in_(chunk))):
            rels.setdefault(src, []).append(f"{rel} {codes.get(tgt)}")
    return {c.code: {"name": c.name, "ci_type": c.ci_type, "status": c.status,
                     "attributes": dict(c.attributes or {}), "relations": sorted(rels.get(c.id, []))} for c in cis}


def create_baseline(actor: User, name: str, codes: list[str] | None = None, description: str = "") -> CIBaseline:
    _require_write(actor)
    if codes:
        cis = [get_ci(actor, c) for c in codes]
    else:
        cis = list(db.session.scalars(scoped(actor, select(ConfigurationItem)).order_by(ConfigurationItem.code)))
    base = CIBaseline(name=name.strip()[:200] or "baseline", description=description, snapshot=snapshot(cis),
                      organisation_id=actor.organisation_id, created_by_id=actor.id)
    db.session.add(base)
    db.session.flush()
    return base


def current_of(baseline: CIBaseline, user: User) -> dict[str, Any]:
    """The current state of the baseline's CIs, plus CIs created since then in the user's scope."""
    codes = list(baseline.snapshot or {})
    cis = []
    for i in range(0, len(codes), _CHUNK):
        cis.extend(db.session.scalars(select(ConfigurationItem).where(ConfigurationItem.code.in_(codes[i:i + _CHUNK]))))
    known = set(codes)
    cis.extend(ci for ci in db.session.scalars(scoped(user, select(ConfigurationItem)).where(
        ConfigurationItem.created_at > baseline.created_at)) if ci.code not in known)
    return snapshot(cis)


def compare(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """Added, removed and changed CIs between two snapshots, with the changed fields."""
    added = sorted(set(new) - set(old))
    removed = sorted(set(old) - set(new))
    changed = []
    for code in sorted(set(old) & set(new)):
        a, b = old[code], new[code]
        fields = []
        for key in ("name", "ci_type", "status"):
            if a.get(key) != b.get(key):
                fields.append({"field": key, "old": a.get(key), "new": b.get(key)})
        aa, ba = a.get("attributes") or {}, b.get("attributes") or {}
        for key in sorted(set(aa) | set(ba)):
            if aa.get(key) != ba.get(key):
                fields.append({"field": key, "old": aa.get(key), "new": ba.get(key)})
        ar, br = set(a.get("relations") or []), set(b.get("relations") or [])
        for r in sorted(br - ar):
            fields.append({"field": "relation", "old": None, "new": r})
        for r in sorted(ar - br):
            fields.append({"field": "relation", "old": r, "new": None})
        if fields:
            changed.append({"code": code, "changes": fields})
    return {"added": added, "removed": removed, "changed": changed}


def get_baseline(user: User, baseline_id: int) -> CIBaseline:
    _require_read(user)
    base = db.session.get(CIBaseline, baseline_id)
    if base is None:
        raise NotFound(_("Baseline %(id)s does not exist.", id=baseline_id))
    orgs = visible_orgs(user)
    if orgs is not None and base.organisation_id not in orgs:
        raise Forbidden(_("This baseline belongs to another organisation."))
    return base


def list_baselines(user: User) -> list[CIBaseline]:
    _require_read(user)
    query = select(CIBaseline).order_by(CIBaseline.id.desc())
    orgs = visible_orgs(user)
    if orgs is not None:
        query = query.where(CIBaseline.organisation_id.in_(orgs))
    return list(db.session.scalars(query))


# --- import and export -------------------------------------------------------------------------------

EXPORT_COLUMNS = ["code", "name", "ci_type", "status", "organisation", "controlled"]


def export_rows(user: User) -> tuple[list[str], list[list[Any]]]:
    _require_read(user)
    cis = list(db.session.scalars(scoped(user, select(ConfigurationItem)).order_by(ConfigurationItem.code)))
    orgs = dict(db.session.execute(select(Organisation.id, Organisation.code)).all())
    attr_names = sorted({k for c in cis for k in (c.attributes or {})})
    header = EXPORT_COLUMNS + attr_names
    rows = [[c.code, c.name, c.ci_type, c.status, orgs.get(c.organisation_id), "yes" if c.controlled else "no"]
            + [(c.attributes or {}).get(a, "") for a in attr_names] for c in cis]
    return header, rows


def export_csv(user: User) -> bytes:
    return tabular.csv_bytes(*export_rows(user))


def export_xlsx(user: User) -> bytes:
    return tabular.xlsx_bytes("CMDB", *export_rows(user))


def read_xlsx(content: bytes) -> list[dict[str, Any]]:
    from openpyxl import load_workbook

    try:
        wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001  (openpyxl raises many kinds for a bad file)
        raise ValidationFailed(_("The file is not a valid XLSX workbook."), {"file": [str(exc)]}) from None
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() if h is not None else "" for h in next(rows, [])]
    out = []
    for row in rows:
        if row is None or all(v in (None, "") for v in row):
            continue
        out.append({h: ("" if v is None else v) for h, v in zip(header, row, strict=False) if h})
    wb.close()
    return out


def import_cis(actor: User, records: list[dict[str, Any]]) -> dict[str, Any]:
    """Create CIs from records (code optional); existing CIs are updated only when not controlled.

    Each row is handled in a savepoint: a bad row is reported and skipped, the others are kept.
    """
    _require_write(actor)
    orgs = {o.code: o for o in db.session.scalars(select(Organisation))}
    created, updated, errors = [], [], []
    for number, rec in enumerate(records, start=2):
        rec = {k: v for k, v in rec.items() if k}
        code = str(rec.get("code") or "").strip() or None
        ci_type = str(rec.get("ci_type") or "").strip()
        attrs_in = {k: v for k, v in rec.items() if k not in EXPORT_COLUMNS and v not in (None, "")}
        try:
            with db.session.begin_nested():
                existing = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == code)) \
                    if code else None
                if existing is not None:
                    changes = {k: rec[k] for k in ("name", "status") if rec.get(k)}
                    changes.update(attrs_in)
                    done = update_ci(actor, existing, changes)
                    if done:
                        updated.append(existing.code)
                    continue
                org = orgs.get(str(rec.get("organisation") or "")) or actor.organisation
                if ci_type not in CLASSES:
                    raise ValidationFailed(_("Unknown CI class."), {"ci_type": [ci_type]})
                attrs = {k: coerce_attribute(ci_type, k, v) for k, v in attrs_in.items()}
                ci = create_ci(actor, ci_type=ci_type, name=str(rec.get("name") or ""), organisation=org,
                               attributes=attrs, status=str(rec.get("status") or "planned"), code=code,
                               controlled=str(rec.get("controlled") or "yes").lower() not in ("no", "false", "0"))
                created.append(ci.code)
        except (ValidationFailed, Conflict, Forbidden) as exc:
            detail = getattr(exc, "errors", None) or {}
            errors.append({"row": number, "code": code, "message": exc.message, "errors": detail})
    return {"created": created, "updated": updated, "errors": errors}


def count_by_type(user: User) -> dict[str, int]:
    _require_read(user)
    query = scoped(user, select(ConfigurationItem.ci_type, func.count()).group_by(ConfigurationItem.ci_type))
    return dict(db.session.execute(query).all())
