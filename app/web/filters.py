"""Template helpers: form rendering, local times, translated labels."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from ..extensions import db
from ..i18n import ui_language
from ..models import Group
from ..models.base import utcnow
from ..services.definitions import compiled_for
from ..services.forms import choice_labels, choices, field_order, localized

TASK_STATES = {"ready": _l("Open"), "completed": _l("Completed"), "cancelled": _l("Cancelled")}
INSTANCE_STATES = {"running": _l("Running"), "completed": _l("Completed"), "cancelled": _l("Cancelled")}
INCIDENT_STATUS = {
    "new": _l("New"),
    "recorded": _l("Recorded"),
    "out_of_scope": _l("Out of scope"),
    "classified": _l("Classified"),
    "escalated": _l("Escalated to the next line"),
    "escalated_upward": _l("Escalated to the upper level"),
    "resolved": _l("Resolved, awaiting confirmation"),
    "reopened": _l("Reopened"),
    "closed": _l("Closed"),
    "cancelled": _l("Cancelled"),
}
EVENT_LABELS = {
    "instance_started": _l("Started"),
    "task_ready": _l("Task ready"),
    "task_completed": _l("Task completed"),
    "element_completed": _l("Step done"),
    "decision_evaluated": _l("Decision evaluated"),
    "task_claimed": _l("Task claimed"),
    "task_unclaimed": _l("Task released"),
    "task_cancelled": _l("Task cancelled"),
    "escalated_upward": _l("Escalated to the upper level"),
    "escalation_refused": _l("Escalation not possible"),
    "instance_completed": _l("Finished"),
    "link_created": _l("Linked"),
    "message_thrown": _l("Message sent"),
    "message_caught": _l("Message received"),
    "message_queued": _l("Message kept until awaited"),
    "message_unrouted": _l("Message not delivered"),
    "note_added": _l("Note"),
    "instance_withdrawn": _l("Withdrawn by the requester"),
    "mail_received": _l("E-mail received"),
    "alert_received": _l("Monitoring alert received"),
    "problem_linked": _l("Linked to a problem"),
    "incidents_correlated": _l("Related incidents linked"),
}

# Codes the application stores, by what people read: the same word in every list, select and record.
LABELS: dict[str, dict[str, Any]] = {
    "ci_status": {"planned": _l("Planned"), "in_use": _l("In use"), "under_maintenance": _l("Under maintenance"),
                  "retired": _l("Retired"), "disposed": _l("Disposed")},
    "relation": {"runs_on": _l("runs on"), "depends_on": _l("depends on"), "connected_to": _l("connected to"),
                 "part_of": _l("is part of"), "provides_service": _l("provides the service")},
    "asset_type": {"network_device": _l("Network device"), "server": _l("Server"), "pc": _l("PC"),
                   "printer": _l("Printer"), "component": _l("Component"), "software_licence": _l("Software licence"),
                   "spare": _l("Spare part")},
    "asset_status": {"procurement": _l("Being procured"), "stock": _l("In stock"), "in_use": _l("In use"),
                     "repair": _l("Under repair"), "retired": _l("Written off")},
    "article_status": {"draft": _l("Draft"), "under_review": _l("Under review"), "published": _l("Published"),
                       "retired": _l("Withdrawn")},
    "alert_status": {"firing": _l("Firing"), "resolved": _l("Resolved")},
    # Alertmanager's conventional severities and Zabbix's levels (services.monitoring.SEVERITY), in any case.
    "alert_severity": {"disaster": _l("Disaster"), "critical": _l("Critical"), "page": _l("Critical"),
                       "high": _l("High"), "error": _l("Error"), "major": _l("Major"), "average": _l("Medium"),
                       "warning": _l("Warning"), "minor": _l("Minor"), "information": _l("Information"),
                       "info": _l("Information"), "not classified": _l("Not classified"), "low": _l("Low")},
    "incident_status": INCIDENT_STATUS,
    "security_event": {"login_succeeded": _l("Logged in"), "login_failed": _l("Login failed"),
                       "login_refused": _l("Login refused: account locked"),
                       "login_throttled": _l("Login refused: too many failures from this address"),
                       "account_locked": _l("Account locked"),
                       "account_unlocked": _l("Account unlocked"), "password_changed": _l("Password changed"),
                       "password_change_refused": _l("Password change refused"), "user_created": _l("Account created"),
                       "user_updated": _l("Account changed"), "user_deactivated": _l("Account deactivated"),
                       "user_reactivated": _l("Account reactivated"), "password_reset": _l("Password reset"),
                       "password_expired": _l("Password expired"),
                       "kpi_targets_changed": _l("Indicator targets changed"),
                       "vendor_created": _l("Supplier registered"), "vendor_updated": _l("Supplier changed"),
                       "vendor_deactivated": _l("Supplier ended"), "vendor_reactivated": _l("Supplier resumed"),
                       "vendor_staff_added": _l("Supplier staff account added"),
                       "vendor_staff_removed": _l("Supplier staff account removed"),
                       "vendor_evaluated": _l("Supplier evaluated"),
                       "mail_refused": _l("E-mail to the desk refused"),
                       "dispatch_changed": _l("Task dispatch changed"), "away_set": _l("Availability changed")},
}


def label(kind: str, code: str | None) -> str:
    """A stored code (a CI's status, a relation type, ...) as people read it; an unknown code as it is."""
    if not code:
        return "—"
    text = LABELS.get(kind, {}).get(code)
    return str(text) if text is not None else code


def severity(value: str | None) -> str:
    """An alert's severity in the UI language when it is a known level (any case), else as the source sent it."""
    text = LABELS["alert_severity"].get((value or "").strip().lower())
    return str(text) if text is not None else (value or "—")


def knowledge_category(code: str | None) -> str:
    """A knowledge article's category by the knowledge form's label for it, in the UI language."""
    from ..services.definitions import latest_version

    if not code:
        return "—"
    if "knowledge_categories" not in g:
        version = latest_version("knowledge")
        forms = compiled_for(version).forms if version is not None else {}
        g.knowledge_categories = choice_labels(forms, ui_language()).get("category", {})
    return g.knowledge_categories.get(code, code)


def _tz() -> ZoneInfo:
    return ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])


def fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.astimezone(_tz()).strftime("%Y-%m-%d %H:%M")


def local_input(value: Any) -> str:
    """ISO 8601 text to the value of an <input type=datetime-local>."""
    if not value:
        return ""
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(_tz())
    return parsed.strftime("%Y-%m-%dT%H:%M")


def group_name(code: str | None) -> str:
    if not code:
        return "—"
    if "group_names" not in g:
        g.group_names = {c: (n, e) for c, n, e in db.session.execute(select(Group.code, Group.name, Group.name_en))}
    zh, en = g.group_names.get(code, (code, code))
    return zh if ui_language() == "zh_CN" else en


def ci_class(code: str | None) -> str:
    """A CI class by its label in the UI language; an unknown class by its code."""
    from ..services.cmdb import CLASSES

    cls = CLASSES.get(code or "")
    if cls is None:
        return code or "—"
    return cls[1] if ui_language() == "zh_CN" else cls[2]


def _names(version: Any, language: str) -> dict[str, str]:
    """Element and process names in a language, from the version's "name.<language>" properties."""
    names = getattr(version, "names", None)  # a compiled process carries them itself
    if names is None:
        names = compiled_for(version).names
    return names.get(language, {})


def step_name(version: Any, spec_id: str | None, name: str | None) -> str:
    """A step's name in the UI language: the diagram's translation of the element, else its form's title."""
    language = ui_language()
    if not name or language == "zh_CN":
        return name or ""
    translated = _names(version, language).get(spec_id or "")
    if translated:
        return translated
    # A form's title is its step's name, so a diagram without element translations still gets its forms'.
    for schema in compiled_for(version).forms.values():
        if schema.get("title") == name:
            return localized(schema, language).get("title") or name
    return name


def step_doc(version: Any, spec_id: str | None, text: str | None) -> str:
    """A step's documentation in the UI language ("documentation.<language>"), else as written."""
    language = ui_language()
    if not text or language == "zh_CN":
        return text or ""
    docs = getattr(version, "docs", None)  # a compiled process carries them itself
    if docs is None:
        docs = compiled_for(version).docs
    return docs.get(language, {}).get(spec_id or "") or text


def process_name(version: Any) -> str:
    """A process's name in the UI language (a version or a compiled process), else its diagram name."""
    language = ui_language()
    if language == "zh_CN":
        return version.name
    return _names(version, language).get(version.process_id) or version.name


def register_filters(app: Flask) -> None:
    """Make the helpers available in every template."""
    app.jinja_env.filters["datetime"] = fmt_datetime
    app.jinja_env.filters["local_input"] = local_input
    app.jinja_env.globals.update(
        form_fields=field_order,
        localized_form=lambda schema: localized(schema, ui_language()),
        step_name=step_name,
        step_doc=step_doc,
        process_name=process_name,
        form_choices=choices,
        now=utcnow,
        group_name=group_name,
        ci_class=ci_class,
        label=label,
        severity=severity,
        knowledge_category=knowledge_category,
        task_state=lambda s: TASK_STATES.get(s, s),
        instance_state=lambda s: INSTANCE_STATES.get(s, s),
        event_label=lambda s: EVENT_LABELS.get(s, s),
        incident_status=lambda s: INCIDENT_STATUS.get(s, s),
    )
