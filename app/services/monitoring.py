"""Monitoring intake (spec 6.1.2 channel "system"): Prometheus Alertmanager and Zabbix webhooks.

Alerts are matched to CIs (label ``ci`` = CI code; else ``instance``/``host``/``hostname`` against the CI's
hostname or IP address), de-duplicated by fingerprint (Alertmanager) or problem event id (Zabbix) into one
incident with a counter, and raised through incident.bpmn (the service desk still records them). When an
alert clears, the incident's history gets an ``alert_resolved`` event; the workflow is never forced on.

Integration accounts are users in the ``integration`` group with no usable password; their tokens are
signed with their own salt, so they work on the integration endpoints only and ordinary API tokens do
not work there.

Zabbix webhook media type: the script posts this JSON (macros in brackets)::

    {"event_id": "{EVENT.ID}", "event_name": "{EVENT.NAME}", "host": "{HOST.HOST}", "host_ip": "{HOST.IP}",
     "severity": "{EVENT.SEVERITY}", "status": "{EVENT.STATUS}", "trigger_id": "{TRIGGER.ID}",
     "event_time": "{EVENT.DATE} {EVENT.TIME}", "recovery_time": "{EVENT.RECOVERY.DATE} {EVENT.RECOVERY.TIME}",
     "opdata": "{EVENT.OPDATA}", "url": "{TRIGGER.URL}", "ci": "{HOST.TAG... or inventory asset tag}"}

``status`` is ``PROBLEM`` or ``RESOLVED`` (``OK`` is accepted too); ``{EVENT.ID}`` of a recovery message
is the id of the problem event, which is what pairs the two. ``severity`` is Zabbix's name: Disaster,
High, Average, Warning, Information, Not classified.
"""
from __future__ import annotations

import hashlib
import json
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import ConfigurationItem, Group, Incident, MonitoringAlert, Organisation, User, UserGroup
from ..models.base import utcnow
from .audit import append_event
from .errors import NotFound, ValidationFailed

INTEGRATION_GROUP = "integration"
# severity -> (impact, urgency)
SEVERITY = {
    "disaster": ("high", "high"), "critical": ("high", "high"), "page": ("high", "high"),
    "high": ("high", "medium"), "error": ("high", "medium"), "major": ("high", "medium"),
    "average": ("medium", "medium"), "warning": ("medium", "medium"), "minor": ("medium", "low"),
    "information": ("low", "low"), "info": ("low", "low"), "not classified": ("low", "low"), "low": ("low", "low"),
}


# --- integration accounts ----------------------------------------------------------------------------

def _integration_group() -> Group:
    group = db.session.scalar(select(Group).where(Group.code == INTEGRATION_GROUP))
    if group is None:
        group = Group(code=INTEGRATION_GROUP, name="监控集成", name_en="Monitoring integration",
                      description="Accounts of monitoring systems; integration endpoints only")
        db.session.add(group)
        db.session.flush()
    return group


def create_integration_account(name: str, organisation: Organisation) -> User:
    """An account for a monitoring system (no usable password); reuses an existing one of that name."""
    user = db.session.scalar(select(User).where(User.username == name))
    if user is not None:
        if not user.in_group(INTEGRATION_GROUP):
            raise ValidationFailed(_("This name belongs to a person's account."), {"name": [_("Choose another.")]})
        return user
    user = User(username=name, display_name=name, organisation=organisation, email="")
    user.set_password(secrets.token_urlsafe(32))
    user.memberships.append(UserGroup(group=_integration_group()))
    db.session.add(user)
    db.session.flush()
    return user


def _signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="integration-token")


def issue_integration_token(user: User) -> str:
    """A long-lived token for an integration account; revoke by bumping the user's token_version."""
    return _signer().dumps({"uid": user.id, "v": user.token_version, "kind": "integration"})


def integration_user(token: str) -> User | None:
    try:
        payload = _signer().loads(token)
    except BadSignature:
        return None
    if not isinstance(payload, dict) or payload.get("kind") != "integration":
        return None
    user = db.session.get(User, payload.get("uid"))
    if user is None or not user.active or user.token_version != payload.get("v") \
            or not user.in_group(INTEGRATION_GROUP):
        return None
    return user


# --- CI matching -------------------------------------------------------------------------------------

def match_ci(labels: dict[str, Any]) -> ConfigurationItem | None:
    """``ci`` label = code; else instance/host/hostname/nodename/host_ip against hostname or IP."""
    code = labels.get("ci") or labels.get("ci_code")
    if code:
        ci = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == str(code)))
        if ci is not None:
            return ci
    for key in ("instance", "host", "hostname", "nodename", "host_ip", "ip"):
        value = str(labels.get(key) or "").strip()
        if not value:
            continue
        host = value.rsplit(":", 1)[0] if value.count(":") == 1 else value  # strip an exporter port
        host = host.strip("[]").lower()
        ci = db.session.scalar(select(ConfigurationItem).where(
            (ConfigurationItem.hostname == host) | (ConfigurationItem.ip_address == host)
            | (ConfigurationItem.hostname == host.split(".")[0])).limit(1))
        if ci is not None:
            return ci
    return None


def _time(value: Any) -> datetime | None:
    if not value:
        return None
    text = str(value).strip()
    for parse in (lambda t: datetime.fromisoformat(t.replace("Z", "+00:00")),
                  lambda t: datetime.strptime(t, "%Y.%m.%d %H:%M:%S")):
        try:
            parsed = parse(text)
        except ValueError:
            continue
        if parsed.year < 2000:  # Alertmanager's zero time for "not ended"
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


# --- the shared alert handling -----------------------------------------------------------------------

def _raise_incident(account: User, alert: MonitoringAlert, source: str, ci: ConfigurationItem | None,
                    description: str) -> Incident:
    from . import incident as incident_service
    from . import instances

    impact, urgency = SEVERITY.get(alert.severity.lower(), ("medium", "medium"))
    data: dict[str, Any] = {
        "reporter_name": f"{source} ({account.username})"[:100], "reporter_contact": account.username[:200],
        "channel": "system", "symptoms": description[:4000], "error_codes": alert.name[:500],
        "impact": impact, "urgency": urgency,
    }
    if ci is not None:
        data["affected_cis"] = [ci.code]
    if alert.starts_at is not None:
        data["occurred_at"] = alert.starts_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    org = ci.organisation if ci is not None else account.organisation
    instance = instances.start_instance(incident_service.PROCESS_ID, account, data, organisation=org)
    append_event(instance, "alert_received", actor=account, data=_alert_data(alert))
    return incident_service.incident_for(instance)


def _alert_data(alert: MonitoringAlert) -> dict[str, Any]:
    return {"source": alert.source, "fingerprint": alert.fingerprint, "name": alert.name,
            "severity": alert.severity, "status": alert.status, "count": alert.count,
            "ci": alert.ci.code if alert.ci is not None else None}


def handle_alert(account: User, *, source: str, fingerprint: str, status: str, name: str, severity: str,
                 summary: str, labels: dict[str, Any], starts_at: datetime | None = None,
                 ends_at: datetime | None = None) -> dict[str, Any]:
    """Create, count or resolve one alert; returns what happened and the incident it belongs to."""
    args = {"source": source, "fingerprint": fingerprint, "status": status, "name": name, "severity": severity,
            "summary": summary, "labels": labels, "starts_at": starts_at, "ends_at": ends_at}
    try:
        with db.session.begin_nested():
            return _handle_alert(account, **args)
    except IntegrityError:
        # The same alert arrived twice at once and the other request inserted it first: it now exists, so
        # this one counts as a repeat of it.
        return _handle_alert(account, **args)


def _handle_alert(account: User, *, source: str, fingerprint: str, status: str, name: str, severity: str,
                  summary: str, labels: dict[str, Any], starts_at: datetime | None = None,
                  ends_at: datetime | None = None) -> dict[str, Any]:
    alert = db.session.scalar(select(MonitoringAlert).where(
        MonitoringAlert.source == source, MonitoringAlert.fingerprint == fingerprint))
    ci = match_ci(labels)
    now = utcnow()
    # Closed or cancelled, the alert's incident is no longer anyone's work: a new firing opens a new one. (One
    # judged out of scope stays the alert's: its repeats are recorded there, not raised again.)
    open_incident = (alert is not None and alert.incident is not None and alert.incident.status != "closed"
                     and alert.incident.instance.status != "cancelled")
    if status == "resolved":
        if alert is None:
            alert = MonitoringAlert(source=source, fingerprint=fingerprint, name=name, severity=severity,
                                    status="resolved", summary=summary, labels=labels, ci=ci, count=1,
                                    starts_at=starts_at, ends_at=ends_at or now, last_seen_at=now)
            db.session.add(alert)
            db.session.flush()
            return {"action": "ignored", "fingerprint": fingerprint, "incident": None}
        already = alert.status == "resolved"
        alert.status, alert.ends_at, alert.last_seen_at = "resolved", ends_at or now, now
        if alert.incident is not None and not already:
            append_event(alert.incident.instance, "alert_resolved", actor=account, data=_alert_data(alert))
        db.session.flush()
        return {"action": "unchanged" if already else "resolved", "fingerprint": fingerprint,
                "incident": _incident_ref(alert.incident)}
    if alert is not None and open_incident:
        alert.count += 1
        refired = alert.status == "resolved"
        alert.status, alert.last_seen_at, alert.summary = "firing", now, summary or alert.summary
        alert.ends_at = None
        append_event(alert.incident.instance, "alert_refired" if refired else "alert_repeated", actor=account,
                     data=_alert_data(alert))
        db.session.flush()
        return {"action": "updated", "fingerprint": fingerprint, "count": alert.count,
                "incident": _incident_ref(alert.incident)}
    if alert is None:
        alert = MonitoringAlert(source=source, fingerprint=fingerprint, count=1)
        db.session.add(alert)
    else:
        alert.count += 1  # fired again after its incident was closed: a new incident
    alert.name, alert.severity, alert.status, alert.summary = name, severity, "firing", summary
    alert.labels, alert.ci, alert.starts_at, alert.ends_at, alert.last_seen_at = labels, ci, starts_at, None, now
    host = labels.get("instance") or labels.get("host") or ""
    description = _("Monitoring alert %(name)s (%(severity)s) on %(target)s: %(summary)s", name=name,
                    severity=severity or "-", target=ci.code if ci else (host or "-"), summary=summary or name)
    alert.incident = _raise_incident(account, alert, source, ci, description)
    db.session.flush()
    return {"action": "created", "fingerprint": fingerprint, "count": alert.count,
            "incident": _incident_ref(alert.incident)}


def _incident_ref(incident: Incident | None) -> dict[str, Any] | None:
    if incident is None:
        return None
    return {"id": incident.instance_id, "business_key": incident.number, "status": incident.status}


# --- the two formats ---------------------------------------------------------------------------------

def receive_alertmanager(account: User, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Alertmanager webhook (version 4): one result per alert."""
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise ValidationFailed(_("Not an Alertmanager webhook payload."), {"alerts": [_("Required.")]})
    common_labels = payload.get("commonLabels") or {}
    common_ann = payload.get("commonAnnotations") or {}
    results = []
    for raw in payload["alerts"]:
        if not isinstance(raw, dict):
            continue
        labels = {**common_labels, **(raw.get("labels") or {})}
        ann = {**common_ann, **(raw.get("annotations") or {})}
        fingerprint = str(raw.get("fingerprint") or hashlib.sha256(
            json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16])
        status = "resolved" if str(raw.get("status") or payload.get("status")) == "resolved" else "firing"
        results.append(handle_alert(
            account, source="alertmanager", fingerprint=fingerprint, status=status,
            name=str(labels.get("alertname") or "alert")[:300], severity=str(labels.get("severity") or ""),
            summary=str(ann.get("summary") or ann.get("description") or "")[:2000], labels=labels,
            starts_at=_time(raw.get("startsAt")), ends_at=_time(raw.get("endsAt"))))
    return results


def receive_zabbix(account: User, payload: dict[str, Any]) -> list[dict[str, Any]]:
    """Zabbix webhook media type (mapping in the module docstring): one result."""
    if not isinstance(payload, dict):
        raise ValidationFailed(_("Not a Zabbix webhook payload."), {"event_id": [_("Required.")]})
    missing = [k for k in ("event_id", "status") if not payload.get(k)]
    if missing:
        raise ValidationFailed(_("Not a Zabbix webhook payload."), {k: [_("Required.")] for k in missing})
    raw_status = str(payload["status"]).upper()
    if raw_status not in {"PROBLEM", "RESOLVED", "OK"}:
        raise ValidationFailed(_("Unknown status."), {"status": ["PROBLEM | RESOLVED"]})
    labels = {k: str(v) for k, v in payload.items() if k in {"host", "host_ip", "ci", "trigger_id", "url"} and v}
    return [handle_alert(
        account, source="zabbix", fingerprint=str(payload["event_id"]),
        status="resolved" if raw_status in {"RESOLVED", "OK"} else "firing",
        name=str(payload.get("event_name") or payload.get("trigger_name") or "problem")[:300],
        severity=str(payload.get("severity") or ""), summary=str(payload.get("opdata") or "")[:2000],
        labels=labels, starts_at=_time(payload.get("event_time")), ends_at=_time(payload.get("recovery_time")))]


def recent_alerts(ci: ConfigurationItem, limit: int = 50) -> list[MonitoringAlert]:
    return list(db.session.scalars(select(MonitoringAlert).where(MonitoringAlert.ci_id == ci.id)
                                   .order_by(MonitoringAlert.last_seen_at.desc()).limit(limit)))


def organisation_by_code(code: str) -> Organisation:
    org = db.session.scalar(select(Organisation).where(Organisation.code == code))
    if org is None:
        raise NotFound(f"no organisation {code!r}")
    return org
