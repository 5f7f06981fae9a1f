"""Audit API (auditors and administrators): search, replay data, verification, re-execution, export;
administrators' interventions: reassign a task, cancel an instance."""
from __future__ import annotations

from flask import Response, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..extensions import db
from ..services import accounts, admin, replay
from .common import FILTER_PARAMS, PAGE_PARAMS, SECURITY, ProblemSchema, TaskSchema, api_user, int_arg, token_required

# Registered at /api/v1: the audit endpoints live under /audit, the interventions beside tasks and instances.
PREFIX = ""
blp = Blueprint("api_audit", __name__, description="Audit: replay, verification, export; interventions")

class ReassignIn(Schema):
    assignee = fields.String(required=True)
    reason = fields.String(required=True)


class CancelIn(Schema):
    reason = fields.String(required=True)


@blp.route("/audit/instances", methods=["GET"])
@blp.doc(security=SECURITY, parameters=[*FILTER_PARAMS, *PAGE_PARAMS])
@blp.response(200)
@blp.alt_response(403, schema=ProblemSchema, description="Not an auditor or administrator")
@token_required
def search():  # noqa: ANN201
    """Instances matching the filters, newest first, one page at a time (has_next instead of a count)."""
    user = api_user()
    replay.require_auditor(user)
    flt = replay.InstanceFilter.from_args(request.args)
    page, per_page = max(int_arg("page", 1), 1), int_arg("per_page", 50)
    rows, has_next = replay.search(user, flt, page, per_page)
    replay.record_view(user, "api.audit.search", filters={**flt.as_dict(), "page": page})
    db.session.commit()
    return {"items": [replay.instance_summary(i) for i in rows], "page": page, "has_next": has_next}


@blp.route("/audit/instances/<int:instance_id>/replay", methods=["GET"])
@blp.doc(security=SECURITY, parameters=[{"in": "query", "name": "at", "schema": {"type": "string"},
                                         "required": False, "description": "ISO time selecting the step"}])
@blp.response(200)
@token_required
def replay_data(instance_id: int):  # noqa: ANN201
    """The version's BPMN, one step per event with the highlight state after it, and the linked instances."""
    user = api_user()
    instance = replay.get_instance(instance_id, user)
    data = replay.replay_data(instance)
    data["selected"] = replay.step_at(data["steps"], request.args.get("at"))
    replay.record_view(user, "api.audit.replay", instance)
    db.session.commit()
    return data


@blp.route("/audit/instances/<int:instance_id>/verify", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200)
@token_required
def verify(instance_id: int):  # noqa: ANN201
    """Recompute the hash chain (changes nothing): consistent, or the first altered/missing/reordered event."""
    user = api_user()
    instance = replay.get_instance(instance_id, user)
    result = replay.verify(instance)
    replay.record_view(user, "api.audit.verify", instance)
    db.session.commit()
    return result


@blp.route("/audit/instances/<int:instance_id>/reexecute", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200)
@token_required
def reexecute(instance_id: int):  # noqa: ANN201
    """Re-run the recorded steps through the recorded version and compare (changes nothing)."""
    user = api_user()
    instance = replay.get_instance(instance_id, user)
    result = replay.reexecute(instance).as_dict()
    replay.record_view(user, "api.audit.reexecute", instance)
    db.session.commit()
    return result


@blp.route("/audit/export", methods=["GET"])
@blp.doc(security=SECURITY, parameters=[{"in": "query", "name": "instance", "schema": {"type": "integer"},
                                         "required": False, "description": "one instance id"}, *FILTER_PARAMS],
         responses={"200": {"description": "zip", "content": {"application/zip": {}}}})
@token_required
def export():  # noqa: ANN201
    """An audit package (zip): events as JSON and CSV, the version's definition files, verification and
    re-execution results, for one instance (?instance=<id>) or the instances matching the search filters."""
    user = api_user()
    if request.args.get("instance"):
        instance = replay.get_instance(int_arg("instance", 0), user)
        body = replay.export_package([instance], {"instance": instance.business_key})
        replay.record_view(user, "api.audit.export", instance)
        name = f"audit-{instance.business_key}.zip"
    else:
        flt = replay.InstanceFilter.from_args(request.args)
        rows = replay.export_instances(user, flt)
        body = replay.export_package(rows, flt.as_dict())
        replay.record_view(user, "api.audit.export", filters=flt.as_dict())
        name = "audit-package.zip"
    db.session.commit()
    return Response(body, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


class SecurityEventOut(Schema):
    id = fields.Integer()
    type = fields.String(metadata={"description": "login_succeeded, login_failed, account_locked, password_changed, "
                                                  "user_created, ... (README, Accounts and login security)"})
    username = fields.String(metadata={"description": "as typed at a login; the account may not exist"})
    remote_addr = fields.String()
    data = fields.Dict()
    created_at = fields.DateTime()


class SecurityPageOut(Schema):
    items = fields.List(fields.Nested(SecurityEventOut))
    page = fields.Integer()
    has_next = fields.Boolean()


@blp.route("/audit/security-events", methods=["GET"])
@blp.doc(security=SECURITY, parameters=[
    {"in": "query", "name": name, "schema": {"type": kind}, "required": False, "description": text}
    for name, kind, text in (("username", "string", "exact username"), ("type", "string", "event type"),
                             ("page", "integer", "page, from 1"), ("per_page", "integer", "at most 200"))])
@blp.response(200, SecurityPageOut)
@blp.alt_response(403, schema=ProblemSchema, description="Not an auditor or administrator")
@token_required
def security_events():  # noqa: ANN201
    """The security log, newest first: logins, failures, locks, password changes, account administration."""
    page, per_page = max(int_arg("page", 1), 1), min(max(int_arg("per_page", 50), 1), 200)
    rows, has_next = accounts.security_log(api_user(), username=request.args.get("username", "").strip(),
                                           kind=request.args.get("type", "").strip(), page=page, page_size=per_page)
    return {"items": rows, "page": page, "has_next": has_next}


@blp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(ReassignIn())
@blp.response(200, TaskSchema)
@blp.alt_response(403, schema=ProblemSchema, description="Not an administrator")
@token_required
def reassign(body: dict, task_id: int):  # noqa: ANN201
    """Administrators: give a ready task to another user, with a reason (an event on the instance)."""
    task = admin.reassign_task(task_id, api_user(), body["assignee"], body["reason"])
    db.session.commit()
    return task


@blp.route("/instances/<int:instance_id>/cancel", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(CancelIn())
@blp.response(200)
@blp.alt_response(403, schema=ProblemSchema, description="Not an administrator")
@token_required
def cancel(body: dict, instance_id: int):  # noqa: ANN201
    """Administrators: cancel a running instance with a reason (its ready tasks are cancelled)."""
    instance = admin.cancel_instance(instance_id, api_user(), body["reason"])
    db.session.commit()
    return replay.instance_summary(instance)
