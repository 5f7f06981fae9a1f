"""SLA: business-calendar computations and the clocks of an item (service-level staff and auditors)."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..models.base import utcnow
from ..services import sla
from .common import SECURITY, api_user, token_required

PREFIX = "/sla"
blp = Blueprint("api_sla", __name__, description="SLA clocks and business-calendar arithmetic")


class ComputeIn(Schema):
    calendar = fields.Raw(required=True, metadata={
        "description": "an organisation id, or {timezone, hours, holidays, working_days}"})
    start = fields.Raw(required=True, metadata={"description": "ISO 8601 instant with offset"})
    target_minutes = fields.Raw(required=True, metadata={"description": "business minutes (integer)"})
    pauses = fields.List(fields.List(fields.Raw(allow_none=True)), load_default=list,
                         metadata={"description": "[[from, to], ...]; to may be null (still paused)"})
    at = fields.Raw(load_default=None, metadata={"description": "when to measure elapsed time (default now)"})


class ComputeOut(Schema):
    deadline = fields.String(allow_none=True)
    elapsed_minutes = fields.Integer()
    at = fields.String()


class ClockOut(Schema):
    kind = fields.String()
    status = fields.String()
    priority = fields.String(allow_none=True)
    service_class = fields.String(allow_none=True)
    target_minutes = fields.Integer()
    started_at = fields.String()
    stopped_at = fields.String(allow_none=True)
    deadline = fields.String(allow_none=True)
    warning_at = fields.String(allow_none=True)
    elapsed_minutes = fields.Integer()
    paused_minutes = fields.Integer()
    breached = fields.Boolean()
    pauses = fields.List(fields.Dict())


@blp.route("/compute", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(ComputeIn())
@blp.response(200, ComputeOut)
@token_required
def compute(body: dict):  # noqa: ANN201
    """Deadline and elapsed business minutes for a start, a target and pauses (same code as live clocks)."""
    return sla.compute(api_user(), body["calendar"], body["start"], body["target_minutes"], body.get("pauses"),
                       body.get("at"))


def _iso(value) -> str | None:  # noqa: ANN001
    return value.isoformat() if value is not None else None


@blp.route("/instances/<int:instance_id>", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, ClockOut(many=True))
@token_required
def clocks(instance_id: int):  # noqa: ANN201
    """The SLA clocks of an item with the figures its SLA page shows."""
    actor = api_user()
    instance = sla.get_item(instance_id, actor)
    now = utcnow()
    out = []
    for row in sla.sla_view(instance, actor, now):
        clock, fig = row["clock"], row["figures"]
        out.append({
            "kind": clock.kind, "status": clock.status, "priority": clock.priority,
            "service_class": clock.service_class, "target_minutes": clock.target_minutes,
            "started_at": clock.started_at.isoformat(), "stopped_at": _iso(clock.stopped_at),
            "deadline": _iso(fig.deadline), "warning_at": _iso(fig.warning_at),
            "elapsed_minutes": fig.elapsed_minutes, "paused_minutes": fig.paused_minutes, "breached": fig.breached,
            "pauses": [{"reason": p.reason, "from": p.started_at.isoformat(), "to": _iso(p.ended_at)}
                       for p in clock.pauses],
        })
    return out
