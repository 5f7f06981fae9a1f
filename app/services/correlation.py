"""Incident correlation (spec 6.2 problem management: 支持对事件的相关性分析，并帮助用户找出潜在问题): incidents
that keep hitting the same configuration item, or keep showing the same error code, are candidates for a problem.

A candidate lists its incidents and whether a problem already deals with any of them (a problem raised from one
of them, or one opened here). Opening a problem from a candidate starts the problem process with a summary of the
incidents and links each incident to it (`incident_correlated`), so both sides show the other.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import or_, select

from ..extensions import db
from ..models import ConfigurationItem, Incident, IncidentCI, InstanceLink, ProcessInstance, User
from ..models.base import utcnow
from .audit import append_event
from .errors import Forbidden, NotFound, ValidationFailed
from .kpi import subtree_ids

VIEWERS = ("problem_lead", "problem_analyst", "problem_expert", "incident_lead", "administrator", "auditor")
OPENERS = ("problem_lead", "problem_analyst")
LINK = "incident_correlated"
KINDS = ("ci", "error_code")
MAX_DAYS = 366
IMPACT_ORDER = {"high": 0, "medium": 1, "low": 2}


@dataclass
class Candidate:
    kind: str  # ci | error_code
    key: str  # the CI's code or the error code
    label: str  # the CI's name, or the code again
    incidents: list[Incident] = field(default_factory=list)
    problems: list[ProcessInstance] = field(default_factory=list)  # problems already on any of them

    @property
    def first_seen(self) -> datetime:
        return min(i.reported_at for i in self.incidents)

    @property
    def last_seen(self) -> datetime:
        return max(i.reported_at for i in self.incidents)


def may_view(user: User) -> bool:
    return user.in_group(*VIEWERS)


def _scope(actor: User) -> list[int] | None:
    if not may_view(actor):
        raise Forbidden(_("Incident correlation is for problem and incident management."))
    return None if actor.in_group("auditor", "administrator") else subtree_ids(actor.organisation_id)


def _check(days: Any, minimum: Any) -> tuple[int, int]:
    errors: dict[str, list[str]] = {}
    try:
        days = int(days)
        if not 1 <= days <= MAX_DAYS:
            raise ValueError
    except (TypeError, ValueError):
        errors["days"] = [_("A whole number from %(low)s to %(high)s.", low=1, high=MAX_DAYS)]
    try:
        minimum = int(minimum)
        if not 2 <= minimum <= 100:
            raise ValueError
    except (TypeError, ValueError):
        errors["min_incidents"] = [_("A whole number from %(low)s to %(high)s.", low=2, high=100)]
    if errors:
        raise ValidationFailed(_("Check the search."), errors)
    return days, minimum


def candidates(actor: User, days: Any = 30, min_incidents: Any = 3, now: datetime | None = None) -> list[Candidate]:
    """Groups of at least `min_incidents` incidents reported in the last `days` days on one CI or with one error
    code, most incidents first (cancelled and out-of-scope incidents are left out)."""
    org_ids = _scope(actor)
    days, minimum = _check(days, min_incidents)
    since = (now or utcnow()) - timedelta(days=days)
    stmt = (select(Incident).join(ProcessInstance, Incident.instance_id == ProcessInstance.id)
            .where(Incident.reported_at >= since, ProcessInstance.status != "cancelled",
                   Incident.status != "out_of_scope"))
    if org_ids is not None:
        stmt = stmt.where(Incident.organisation_id.in_(org_ids))
    incidents = list(db.session.scalars(stmt))
    groups: dict[tuple[str, str], Candidate] = {}
    by_id = {i.id: i for i in incidents}
    if by_id:
        rows = db.session.execute(
            select(IncidentCI.incident_id, ConfigurationItem.code, ConfigurationItem.name)
            .join(ConfigurationItem, ConfigurationItem.id == IncidentCI.ci_id)
            .where(IncidentCI.incident_id.in_(list(by_id))))
        for incident_id, code, name in rows:
            groups.setdefault(("ci", code), Candidate("ci", code, name)).incidents.append(by_id[incident_id])
    for incident in incidents:
        for code in _error_codes(incident.error_codes):
            groups.setdefault(("error_code", code), Candidate("error_code", code, code)).incidents.append(incident)
    found = [c for c in groups.values() if len(c.incidents) >= minimum]
    _attach_problems(found)
    for c in found:
        c.incidents.sort(key=lambda i: i.reported_at, reverse=True)
    return sorted(found, key=lambda c: (-len(c.incidents), c.kind, c.key))


def _error_codes(text: str | None) -> set[str]:
    """The codes of an incident's field f): split on commas, semicolons and white space; case kept, blanks out."""
    return {part for part in re.split(r"[,;，；\s]+", (text or "").strip()) if len(part) >= 3}


def _attach_problems(found: list[Candidate]) -> None:
    """The running or finished problems linked to any incident of each candidate (either direction)."""
    instance_ids = {i.instance_id for c in found for i in c.incidents}
    if not instance_ids:
        return
    problem = ProcessInstance
    rows = db.session.execute(
        select(InstanceLink.source_id, InstanceLink.target_id, problem)
        .join(problem, or_(problem.id == InstanceLink.target_id, problem.id == InstanceLink.source_id))
        .where(problem.process_id == "problem",
               or_(InstanceLink.source_id.in_(instance_ids), InstanceLink.target_id.in_(instance_ids))))
    by_incident: dict[int, dict[int, ProcessInstance]] = defaultdict(dict)
    for source_id, target_id, prob in rows:
        other = source_id if target_id == prob.id else target_id
        by_incident[other][prob.id] = prob
    for c in found:
        seen: dict[int, ProcessInstance] = {}
        for i in c.incidents:
            seen.update(by_incident.get(i.instance_id, {}))
        c.problems = sorted(seen.values(), key=lambda p: p.id)


def _problem_categories() -> set[str]:
    """The categories the problem's start form offers (the process owner may change them)."""
    from .definitions import compiled_for, require_latest

    compiled = compiled_for(require_latest("problem"))
    field_schema = compiled.forms.get(compiled.start_form or "", {}).get("properties", {}).get("category", {})
    return {o.get("const") for o in field_schema.get("oneOf", [])} | set(field_schema.get("enum", []))


def open_problem(actor: User, kind: str, key: str, days: Any = 30, min_incidents: Any = 3,
                 now: datetime | None = None) -> ProcessInstance:
    """Start a problem for a candidate and link its incidents to it (problem management staff)."""
    from .instances import start_instance

    if not actor.in_group(*OPENERS):
        raise Forbidden(_("Only the problem lead and analysts open problems from incidents."))
    found = next((c for c in candidates(actor, days, min_incidents, now) if (c.kind, c.key) == (kind, key)), None)
    if found is None:
        raise NotFound(_("No such group of related incidents (any more)."))
    incidents = found.incidents
    what = _("configuration item %(code)s (%(name)s)", code=found.key, name=found.label) if kind == "ci" \
        else _("error code %(code)s", code=found.key)
    summary = _("%(n)s related incidents on %(what)s", n=len(incidents), what=what)[:200]
    lines = [f"{i.number} {i.reported_at:%Y-%m-%d} {(i.symptoms or '').splitlines()[0][:120] if i.symptoms else ''}"
             for i in incidents]
    allowed = _problem_categories()
    categories = [i.category for i in incidents if i.category in allowed]
    impacts = sorted((i.impact for i in incidents if i.impact in IMPACT_ORDER), key=IMPACT_ORDER.__getitem__)
    data: dict[str, Any] = {
        "summary": summary, "symptoms": "\n".join(lines)[:4000],
        "category": max(set(categories), key=categories.count) if categories else "other",
        "impact": impacts[0] if impacts else "medium", "urgency": "medium",
    }
    if kind == "ci":
        data["affected_cis"] = [found.key]
    problem = start_instance("problem", actor, data)
    db.session.flush()
    for incident in incidents:
        db.session.add(InstanceLink(source_id=incident.instance_id, target_id=problem.id, message=LINK))
        append_event(incident.instance, "problem_linked", actor=actor, data={
            "problem": problem.business_key, "reason": kind, "key": found.key})
    append_event(problem, "incidents_correlated", actor=actor, data={
        "reason": kind, "key": found.key, "incidents": [i.number for i in incidents]})
    db.session.flush()
    return problem
