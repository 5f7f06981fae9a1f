"""Change management (spec 6.1.4, Tables 4-5): who may raise changes; CI updates by an implemented change."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..engine.runtime import ProcessRun
from ..extensions import db
from ..models import CIChange, ConfigurationItem, ProcessInstance, User
from . import instances
from .audit import append_event

PROCESS_ID = "change"
# 6.2(4)d: only authorised people submit RFCs.
REQUESTER_GROUPS = {
    "service_desk", "support_line_1", "support_line_2", "support_line_3", "incident_lead", "problem_lead",
    "problem_analyst", "problem_expert", "change_analyst", "change_lead", "change_implementer", "cab", "ecab",
    "configuration_lead", "release_lead", "service_level_lead", "security_lead", "continuity_lead",
}
# CI attributes a change may set (the CMDB issue widens this to class attributes).
CI_FIELDS = {"name", "status"}
CI_STATUSES = {"planned", "in_use", "under_maintenance", "retired", "disposed"}


class ChangeHooks:
    """Applies the CI changes of a successfully implemented change, once, with history (CI control, Table 6)."""

    prefix = "CHG"

    def on_start(self, instance: ProcessInstance, run: ProcessRun, actor: User | None, data: dict) -> None:
        instance.title = str(data.get("summary") or "")[:300]

    def after_step(self, instance: ProcessInstance, run: ProcessRun, actor: User | None) -> None:
        data = run.data()
        if data.get("change_category"):
            instance.priority = str(data["change_category"])
        if not data.get("apply_ci_changes"):
            return
        already = db.session.scalar(select(CIChange.id).where(CIChange.instance_id == instance.id).limit(1))
        if already is None:
            apply_ci_changes(instance, data.get("ci_changes") or [], actor)


def apply_ci_changes(instance: ProcessInstance, changes: list[dict[str, Any]], actor: User | None) -> int:
    """Apply {"ci", "field", "value"} items under this change; unknown CIs or fields are skipped and logged."""
    from . import cmdb
    from .errors import ServiceError

    applied = 0
    for item in changes:
        code, field, value = item.get("ci"), item.get("field"), item.get("value")
        ci = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == code))
        if ci is None or not isinstance(field, str):
            append_event(instance, "ci_change_refused", actor=actor, data={"item": item})
            continue
        # Name, status (lifecycle transitions) and the class attributes, validated by the CMDB service.
        try:  # validated before anything is written, so a refusal leaves the CI untouched
            cmdb.apply_change_item(instance, ci, field, value, actor)
        except ServiceError as exc:
            append_event(instance, "ci_change_refused", actor=actor, data={"item": item, "reason": exc.message})
            continue
        applied += 1
    return applied


instances.register(PROCESS_ID, ChangeHooks())
