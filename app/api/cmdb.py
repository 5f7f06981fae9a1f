"""The CMDB over the API: list and read CIs, relations, history, impact analysis."""
from __future__ import annotations

from typing import Any

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..models import ConfigurationItem
from ..services import cmdb, cmdb_quality
from .common import SECURITY, api_user, token_required

PREFIX = "/cis"
blp = Blueprint("api_cmdb", __name__, description="Configuration items (CMDB)")


class ImpactQuery(Schema):
    limit = fields.Integer(load_default=cmdb.IMPACT_PAGE, validate=validate.Range(min=0, max=cmdb.IMPACT_MAX_PAGE),
                           metadata={"description": "affected CIs listed (the totals always cover all of them)"})
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0),
                            metadata={"description": "skip this many affected CIs (by depth, then code)"})


def ci_dict(ci: ConfigurationItem) -> dict[str, Any]:
    return {"code": ci.code, "name": ci.name, "ci_type": ci.ci_type, "status": ci.status,
            "organisation": ci.organisation.code, "controlled": ci.controlled, "attributes": ci.attributes or {}}


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200)
@token_required
def index():  # noqa: ANN201
    """CIs visible to the caller (own organisation and below); filters q, ci_type, status."""
    limit = min(max(request.args.get("limit", 200, type=int), 1), 1000)  # not a number: the default
    cis = cmdb.list_cis(api_user(), request.args.get("q", ""), request.args.get("ci_type") or None,
                        request.args.get("status") or None, limit=limit)
    return [ci_dict(ci) for ci in cis]


@blp.route("/quality", methods=["GET"])
@blp.doc(security=SECURITY, parameters=[{"in": "query", "name": "stale_days", "required": False,
                                        "schema": {"type": "integer"},
                                        "description": "a live CI unchanged for longer is stale (30 to 3650; 365)"}])
@blp.response(200)
@token_required
def quality():  # noqa: ANN201
    """CMDB data quality: per check, the CIs found (duplicates, orphans, dependencies on retired CIs, hardware
    without a serial number, stale records)."""
    found = cmdb_quality.findings(api_user(), request.args.get("stale_days", "365"))
    return {check: [{"key": f.key, "cis": [c.code for c in f.cis], **f.detail} for f in items]
            for check, items in found.items()}


@blp.route("/<code>", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200)
@token_required
def show(code: str):  # noqa: ANN201
    """A CI with its relations and history."""
    user = api_user()
    ci = cmdb.get_ci(user, code)
    rels = cmdb.relations_of(ci)
    return {**ci_dict(ci),
            "relations": [{"type": r.rel_type, "target": r.target.code} for r in rels["outgoing"]],
            "related_from": [{"type": r.rel_type, "source": r.source.code} for r in rels["incoming"]],
            "history": [{"field": h.field, "old": h.old_value, "new": h.new_value, "change": h.change_key,
                         "actor": h.actor.username if h.actor else None, "at": h.created_at.isoformat()}
                        for h in cmdb.history(ci)]}


@blp.route("/<code>/impact", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(ImpactQuery(), location="query")
@blp.response(200)
@token_required
def impact(args: dict, code: str):  # noqa: ANN201
    """What is affected if this CI fails.

    `total`, `by_class` (affected CIs per class), `max_depth`, `services` (every affected service, with its
    users), `organisations` and `users` cover all affected CIs; `affected` lists one page of them (`limit`,
    default 200, at most 1000, from `offset`), ordered by depth then code, each with its depth and the
    relation and CI (`via`) through which failure reached it.
    """
    user = api_user()
    return cmdb.impact(user, cmdb.get_ci(user, code), limit=args["limit"], offset=args["offset"]).as_dict()
