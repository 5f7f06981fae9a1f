"""Incident management (spec 6.1.2, Table 2): recording, reporting, the record projection, escalation."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import bindparam, select

from ..engine.runtime import ProcessRun
from ..extensions import db
from ..models import ConfigurationItem, Incident, IncidentCI, Organisation, ProcessInstance, User
from ..models.base import utcnow
from . import instances, sla
from .audit import append_event
from .errors import Forbidden, NotFound, ValidationFailed

PROCESS_ID = "incident"
# Record fields copied from the workflow into typed columns after every step.
_TEXT_FIELDS = ("reporter_name", "reporter_contact", "symptoms", "error_codes", "channel")
_CODE_FIELDS = ("impact", "urgency", "priority", "category", "service_class", "support_group", "status")


def record_incident(actor: User, data: dict[str, Any], *, requester: User | None = None,
                    files: Sequence[tuple[str, bytes]] = ()) -> ProcessInstance:
    """The service desk records an incident reported by any channel (Table 2 steps 1-2)."""
    if not actor.in_group("service_desk"):
        raise Forbidden(_("Only the service desk records incidents."))
    instance = instances.start_instance(PROCESS_ID, actor, _with_defaults(data, "phone"), requester=requester)
    from . import cases  # cases reads incident records: imported here, not at the top

    return cases.attach_first_files(instance, actor, files)


def report_fault(actor: User, data: dict[str, Any], *, files: Sequence[tuple[str, bytes]] = ()) -> ProcessInstance:
    """Any user reports a fault through the web (Table 2 step 1); the desk then records it."""
    if actor.in_group("auditor") and len(actor.memberships) == 1:
        raise Forbidden(_("Auditors have read-only access."))
    data = _with_defaults(data, "web")
    data.setdefault("reporter_name", actor.display_name)
    data.setdefault("reporter_contact", actor.email or actor.phone or actor.username)
    from . import cases

    return cases.attach_first_files(instances.start_instance(PROCESS_ID, actor, data, requester=actor), actor, files)


def _with_defaults(data: dict[str, Any], channel: str) -> dict[str, Any]:
    data = dict(data)
    data.setdefault("channel", channel)
    return data


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None


class IncidentHooks:
    """Keeps the typed incident record in step with the workflow and handles upward escalation."""

    prefix = "INC"

    def on_cancelled(self, instance: ProcessInstance) -> None:
        """The record says so too (h: status), not only the case."""
        incident = incident_of(instance)
        if incident is not None:
            incident.status = "cancelled"

    def on_start(self, instance: ProcessInstance, run: ProcessRun, actor: User | None, data: dict) -> None:
        incident = Incident(
            instance=instance,
            number=instance.business_key,
            reported_at=utcnow(),
            recorder_id=actor.id if actor and actor.in_group("service_desk") else None,
            reporter_id=instance.requester_id,
            organisation_id=instance.organisation_id,
            status="new",
        )
        db.session.add(incident)
        self._sync(instance, incident, run.data())

    def after_step(self, instance: ProcessInstance, run: ProcessRun, actor: User | None) -> None:
        incident = incident_of(instance)
        if incident is None:
            return
        pending = [t for t in run.newly_ready() if t.data.get("escalate_to_parent_org")]
        if pending:
            self._escalate_upward(instance, incident, run, actor)
        if incident.recorder_id is None and actor is not None and actor.in_group("service_desk"):
            incident.recorder_id = actor.id
        data = run.data()
        self._sync(instance, incident, data, sync_cis="affected_cis" in run.changed_keys())
        sla.on_incident_step(instance, incident, run.events, data)
        for ev in run.events:
            if ev.kind == "element_completed" and ev.spec_id == "notify_incident_lead":
                self._support_too_slow(instance, incident, data, ev.guid or "")

    def _support_too_slow(self, instance: ProcessInstance, incident: Incident, data: dict[str, Any],
                          guid: str) -> None:
        """The boundary timer on investigate_and_diagnose fired: tell the incident lead(s), once per firing."""
        from . import notifications

        leads = notifications.group_members("incident_lead", [instance.organisation_id])
        notifications.notify(leads, "support_too_slow", f"support_too_slow:{guid}", {
            "business_key": instance.business_key, "title": instance.title,
            "group": incident.support_group or data.get("assigned_group") or "",
            "after": data.get("escalation_after") or ""}, instance)
        append_event(instance, "escalation_notified", data={
            "reason": "support_too_slow", "to": [u.username for u in leads],
            "group": data.get("assigned_group"), "after": data.get("escalation_after")})

    def after_apply(self, instance: ProcessInstance, run: ProcessRun, actor: User | None) -> None:
        """The step's tasks are projected: support tasks are due at the resolve deadline."""
        sla.set_support_due_dates(instance, sla.ready_tasks(instance))

    def _escalate_upward(self, instance: ProcessInstance, incident: Incident, run: ProcessRun,
                         actor: User | None) -> None:
        """Table 2 / 6.1.1(3)f: pass the incident to the desk of the level above, with its history."""
        org = db.session.get(Organisation, instance.organisation_id)
        run.update_ready_data({"escalate_to_parent_org": False})
        if org is None or org.parent is None:
            append_event(instance, "escalation_refused", actor=actor, data={
                "reason": "no higher level", "organisation": org.code if org else None})
            return
        append_event(instance, "escalated_upward", actor=actor, data={
            "from_organisation": org.code, "to_organisation": org.parent.code,
            "from_level": org.level, "to_level": org.parent.level,
        })
        instance.organisation_id = org.parent.id
        incident.organisation_id = org.parent.id
        incident.upward_escalations = (incident.upward_escalations or 0) + 1

    def _sync(self, instance: ProcessInstance, incident: Incident, data: dict[str, Any],
              sync_cis: bool = True) -> None:
        for name in _TEXT_FIELDS:
            if isinstance(data.get(name), str):
                setattr(incident, name, data[name])
        for name in _CODE_FIELDS:
            if data.get(name) is not None:
                setattr(incident, name, str(data[name]))
        incident.occurred_at = _parse_time(data.get("occurred_at")) or incident.occurred_at
        incident.support_line = data.get("support_line", incident.support_line)
        incident.solution = data.get("solution") or incident.solution or ""
        incident.create_problem = bool(data.get("create_problem", incident.create_problem))
        incident.rfc_requested = bool(data.get("rfc_requested", incident.rfc_requested))
        incident.escalation_count = int(data.get("escalation_count") or 0)
        if incident.status == "closed" and incident.closed_at is None:
            incident.closed_at = utcnow()
        instance.priority = incident.priority
        instance.title = (incident.symptoms or "")[:300]
        if sync_cis:  # reading the CI links costs a query; only when this step touched them
            self._sync_cis(incident, data.get("affected_cis"))

    def _sync_cis(self, incident: Incident, codes: Any) -> None:
        if not isinstance(codes, list):
            return
        wanted = {str(c) for c in codes}
        current = {link.ci.code for link in incident.cis}
        if wanted == current:
            return
        cis = {ci.code: ci for ci in db.session.scalars(
            select(ConfigurationItem).where(ConfigurationItem.code.in_(wanted)))} if wanted else {}
        unknown = wanted - set(cis)
        if unknown:
            raise ValidationFailed(_("Unknown configuration items."), {"affected_cis": [
                _("Unknown configuration item %(code)s.", code=c) for c in sorted(unknown)]})
        incident.cis = [link for link in incident.cis if link.ci.code in wanted]
        for code in sorted(wanted - current):
            incident.cis.append(IncidentCI(ci=cis[code]))


def incident_of(instance: ProcessInstance) -> Incident | None:
    """The incident record of an instance, or None (not an incident)."""
    return db.session.scalar(_incident_statement(), {"instance_id": instance.id})


@lru_cache(maxsize=1)
def _incident_statement() -> Any:
    # Every step of an incident reads its record: the statement is built once (building cost more than running).
    return select(Incident).where(Incident.instance_id == bindparam("instance_id"))


def incident_for(instance: ProcessInstance) -> Incident:
    """The incident record of an incident instance."""
    incident = incident_of(instance)
    if incident is None:
        raise NotFound(_("This case has no incident record."))
    return incident


def configuration_items(actor: User) -> list[ConfigurationItem]:
    """CIs the actor may name as affected: their organisation's and those below it, not disposed."""
    from .cmdb import visible_orgs  # cmdb starts incidents itself (drift), so import late

    stmt = select(ConfigurationItem).where(ConfigurationItem.status != "disposed").order_by(ConfigurationItem.code)
    orgs = visible_orgs(actor)
    if orgs is not None:
        stmt = stmt.where(ConfigurationItem.organisation_id.in_(orgs))
    return list(db.session.scalars(stmt))


instances.register(PROCESS_ID, IncidentHooks())
