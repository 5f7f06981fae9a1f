"""Suppliers (spec 6.2(5) outsourcing management): contracts, staff accounts, evaluations, process control."""
from __future__ import annotations

from flask import request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..extensions import db
from ..models import Vendor
from ..services import vendors
from .common import SECURITY, ProblemSchema, _query_params, api_user, token_required

PREFIX = "/suppliers"
blp = Blueprint("api_suppliers", __name__, description="Suppliers and outsourced services (spec 6.2(5))")


class SupplierIn(Schema):
    code = fields.String(metadata={"description": "1 to 40 letters, digits, - or _ (on creation only)"})
    name = fields.String()
    kind = fields.String(validate=validate.OneOf(vendors.KINDS))
    organisation = fields.String(metadata={"description": "contracting organisation's code (default: own)"})
    contact_name = fields.String()
    contact_phone = fields.String()
    contact_email = fields.String()
    contract_no = fields.String()
    contract_start = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    contract_end = fields.String(allow_none=True, metadata={"description": "YYYY-MM-DD"})
    service_scope = fields.String()
    service_terms = fields.String()


class SupplierPatch(SupplierIn):
    """The fields to change (any of them)."""


class EvaluationIn(Schema):
    period = fields.String(required=True, metadata={"description": "2026, 2026-H2, 2026-Q4 or 2026-11"})
    quality = fields.Integer(required=True)
    timeliness = fields.Integer(required=True)
    cooperation = fields.Integer(required=True)
    comment = fields.String(load_default="")


class StaffIn(Schema):
    username = fields.String(required=True)


def _dict(vendor: Vendor, detail: bool = False) -> dict:
    out = {"code": vendor.code, "name": vendor.name, "kind": vendor.kind, "organisation": vendor.organisation.code,
           "active": vendor.active, "contact_name": vendor.contact_name, "contact_phone": vendor.contact_phone,
           "contact_email": vendor.contact_email, "contract_no": vendor.contract_no,
           "contract_start": vendor.contract_start.isoformat() if vendor.contract_start else None,
           "contract_end": vendor.contract_end.isoformat() if vendor.contract_end else None,
           "contract_state": vendors.contract_state(vendor), "average_score": vendors.average_score(vendor)}
    if detail:
        out.update({"service_scope": vendor.service_scope, "service_terms": vendor.service_terms,
                    "staff": [s.user.username for s in vendor.staff],
                    "evaluations": [{"period": e.period, "quality": e.quality, "timeliness": e.timeliness,
                                     "cooperation": e.cooperation, "overall": e.overall, "comment": e.comment,
                                     "evaluator": e.evaluator.username if e.evaluator else None}
                                    for e in vendor.evaluations]})
    return out


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY, parameters=_query_params(
    ("q", "string", "text in the code, name, contract number or contact"), ("kind", "string", "|".join(vendors.KINDS)),
    ("inactive", "string", "1: former suppliers too")))
@blp.response(200)
@token_required
def list_suppliers():  # noqa: ANN201
    """Suppliers with their contract's state (expired, ending within 30 days) and average evaluation."""
    rows = vendors.list_vendors(api_user(), request.args.get("q", ""), request.args.get("kind") or None,
                                include_inactive=request.args.get("inactive") == "1")
    return {"items": [_dict(v) for v in rows]}


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(SupplierIn())
@blp.response(201)
@blp.alt_response(400, schema=ProblemSchema, description="A field that is not valid, per field")
@token_required
def create(body: dict):  # noqa: ANN201
    """Register a supplier (administrators and service-level staff)."""
    vendor = vendors.create_vendor(api_user(), body)
    db.session.commit()
    return _dict(vendor, detail=True)


@blp.route("/<code>", methods=["GET"])
@blp.doc(security=SECURITY, parameters=_query_params(
    ("period", "string", "month YYYY-MM for process control (default: this month)"),
    ("from", "string", "first day YYYY-MM-DD"), ("to", "string", "last day YYYY-MM-DD")))
@blp.response(200)
@token_required
def show(code: str):  # noqa: ANN201
    """A supplier with its staff, evaluations and process control for a period."""
    vendor = vendors.get_vendor(api_user(), code)
    control = vendors.process_control(api_user(), vendor, period=request.args.get("period") or None,
                                      start=request.args.get("from") or None, end=request.args.get("to") or None)
    return {**_dict(vendor, detail=True), "process_control": control,
            "assets": [a.tag for a in vendors.supplied_assets(api_user(), vendor)]}


@blp.route("/<code>", methods=["PATCH"])
@blp.doc(security=SECURITY)
@blp.arguments(SupplierPatch(partial=True))
@blp.response(200)
@token_required
def update(body: dict, code: str):  # noqa: ANN201
    """Change a supplier's fields; `changed` lists what changed."""
    vendor = vendors.get_vendor(api_user(), code)
    changes = vendors.update_vendor(api_user(), vendor, body)
    db.session.commit()
    return {**_dict(vendor, detail=True), "changed": sorted(changes)}


@blp.route("/<code>/staff", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(StaffIn())
@blp.response(201)
@blp.alt_response(409, schema=ProblemSchema, description="The account already works for a supplier")
@token_required
def add_staff(body: dict, code: str):  # noqa: ANN201
    """Record that a user account works for the supplier."""
    vendor = vendors.get_vendor(api_user(), code)
    vendors.add_staff(api_user(), vendor, body["username"])
    db.session.commit()
    return _dict(vendor, detail=True)


@blp.route("/<code>/staff/<username>", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(200)
@token_required
def remove_staff(code: str, username: str):  # noqa: ANN201
    vendor = vendors.get_vendor(api_user(), code)
    vendors.remove_staff(api_user(), vendor, username)
    db.session.commit()
    return _dict(vendor, detail=True)


@blp.route("/<code>/evaluations", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(EvaluationIn())
@blp.response(201)
@blp.alt_response(409, schema=ProblemSchema, description="The period is already evaluated")
@token_required
def evaluate(body: dict, code: str):  # noqa: ANN201
    """Result control: evaluate a period (quality, timeliness, cooperation: 1 to 5)."""
    vendor = vendors.get_vendor(api_user(), code)
    vendors.evaluate(api_user(), vendor, body["period"], body, body.get("comment", ""))
    db.session.commit()
    return _dict(vendor, detail=True)
