"""Instances and their event logs."""
from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from ..extensions import db
from ..models import Event, ProcessInstance
from ..services import incident, instances
from .common import SECURITY, EventSchema, api_user, instance_dict, token_required

PREFIX = "/instances"
blp = Blueprint("api_instances", __name__, description="Process instances")


def _record(instance: ProcessInstance) -> dict | None:
    inc = incident.incident_of(instance)
    if inc is None:
        return None
    return {
        "number": inc.number, "reported_at": inc.reported_at.isoformat(),
        "recorder": inc.recorder.username if inc.recorder else None,
        "reporter_name": inc.reporter_name, "reporter_contact": inc.reporter_contact,
        "occurred_at": inc.occurred_at.isoformat() if inc.occurred_at else None,
        "affected_cis": [link.ci.code for link in inc.cis], "symptoms": inc.symptoms,
        "error_codes": inc.error_codes, "impact": inc.impact, "urgency": inc.urgency, "priority": inc.priority,
        "category": inc.category, "support_group": inc.support_group, "support_line": inc.support_line,
        "status": inc.status, "solution": inc.solution, "create_problem": inc.create_problem,
        "rfc_requested": inc.rfc_requested, "organisation": inc.organisation.code,
    }


@blp.route("/<int:instance_id>", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200)
@token_required
def show(instance_id: int):  # noqa: ANN201
    """An instance: version, status, record fields, open tasks with candidate groups."""
    instance = instances.get_instance(instance_id, api_user())
    return instance_dict(instance, _record(instance))


@blp.route("/<int:instance_id>/events", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, EventSchema(many=True))
@token_required
def events(instance_id: int):  # noqa: ANN201
    """The instance's hash-chained event log in order."""
    instance = instances.get_instance(instance_id, api_user())
    return db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)).all()
