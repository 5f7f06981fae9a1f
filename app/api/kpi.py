"""Service quality indicators (spec 7.2) and process statistics; each organisation's indicator targets."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..extensions import db
from ..services import kpi
from .common import SECURITY, ProblemSchema, _query_params, api_user, token_required

PREFIX = "/kpi"
blp = Blueprint("api_kpi", __name__, description="Service quality indicators and process statistics (spec 7.2)")

REPORT_PARAMS = _query_params(
    ("organisation", "string", "organisation code (default: the caller's own)"),
    ("period", "string", "month YYYY-MM in the organisation's timezone (default: this month)"),
    ("from", "string", "first day YYYY-MM-DD (with to, instead of period)"),
    ("to", "string", "last day YYYY-MM-DD, inclusive; at most 366 days"),
    ("below", "string", "1 (default): with every organisation below; 0: the organisation alone"),
)


class TargetsIn(Schema):
    organisation = fields.String(load_default=None, metadata={"description": "organisation code (default: own)"})
    targets = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True), required=True, metadata={
        "description": "indicator code -> number, or null / \"\" to inherit again"})


def _targets(org) -> dict:  # noqa: ANN001
    effective, own = kpi.targets_for(org), kpi.own_targets(org)
    return {"organisation": org.code, "targets": [
        {"code": ind.code, "name": str(ind.name), "unit": ind.unit, "better": ind.better,
         "target": effective[ind.code][0], "set_by": effective[ind.code][1], "own": own.get(ind.code)}
        for ind in kpi.INDICATORS]}


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY, parameters=REPORT_PARAMS)
@blp.response(200)
@blp.alt_response(400, schema=ProblemSchema, description="A period that is not valid")
@blp.alt_response(403, schema=ProblemSchema, description="Requesters, or an organisation outside the caller's")
@token_required
def report():  # noqa: ANN201
    """Each indicator's value, what it was counted from, its target and whether it is met; breakdowns of incidents
    by category and priority, changes by category, and every process's execution."""
    args = request.args
    return kpi.report(api_user(), args.get("organisation") or None, period=args.get("period") or None,
                      start=args.get("from") or None, end=args.get("to") or None,
                      include_below=args.get("below", "1") != "0").as_dict()


@blp.route("/trend", methods=["GET"])
@blp.doc(security=SECURITY, parameters=[*REPORT_PARAMS[:1], *_query_params(
    ("months", "integer", "how many months, the current one last (2 to 24; default 12)")), REPORT_PARAMS[-1]])
@blp.response(200)
@blp.alt_response(400, schema=ProblemSchema, description="A number of months out of range")
@token_required
def trend():  # noqa: ANN201
    """Each indicator month by month, judged against today's targets."""
    args = request.args
    return kpi.trend(api_user(), args.get("organisation") or None, months=args.get("months", "12"),
                     include_below=args.get("below", "1") != "0").as_dict()


@blp.route("/targets", methods=["GET"])
@blp.doc(security=SECURITY, parameters=REPORT_PARAMS[:1])
@blp.response(200)
@token_required
def targets():  # noqa: ANN201
    """The targets in force for an organisation, where each comes from, and the organisation's own."""
    return _targets(kpi.organisation_for(api_user(), request.args.get("organisation") or None))


@blp.route("/targets", methods=["PUT"])
@blp.doc(security=SECURITY)
@blp.arguments(TargetsIn())
@blp.response(200)
@blp.alt_response(400, schema=ProblemSchema, description="An unknown indicator or a value out of range")
@token_required
def set_targets(body: dict):  # noqa: ANN201
    """Set or clear an organisation's own targets (administrators and service-level staff)."""
    org = kpi.organisation_for(api_user(), body.get("organisation"))
    changes = kpi.set_targets(org, api_user(), body["targets"])
    db.session.commit()
    return {**_targets(org), "changed": sorted(changes)}
