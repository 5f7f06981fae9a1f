"""Instances and their event logs."""
from __future__ import annotations

from flask import request, url_for
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..downloads import stored_file
from ..extensions import db
from ..models import CaseAttachment, Event, ProcessInstance
from ..services import cases, incident, instances
from .common import (
    FILTER_PARAMS,
    PAGE_PARAMS,
    SECURITY,
    AttachmentIn,
    EventSchema,
    ProblemSchema,
    TaskSchema,
    api_user,
    attachments_named,
    decoded_files,
    instance_dict,
    int_arg,
    token_required,
)

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


class NoteIn(Schema):
    text = fields.String(load_default="", validate=validate.Length(max=cases.NOTE_MAX_LENGTH),
                         metadata={"description": "may be empty when files are attached"})
    internal = fields.Boolean(load_default=False, metadata={
        "description": "staff only: a note the requester does not see"})
    attachments = fields.List(fields.Nested(AttachmentIn()), load_default=list, metadata={
        "description": "screenshots, logs, documents: .png .jpg .gif .pdf .docx .xlsx .zip .txt .log .csv"})


class AttachmentOut(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    sha256 = fields.String(metadata={"description": "as recorded on the note's event"})
    url = fields.String(metadata={"description": "GET it with the same bearer token"})


class NoteOut(Schema):
    seq = fields.Integer(metadata={"description": "the note's place in the case's event log"})
    author = fields.String(allow_none=True, metadata={"description": "username"})
    internal = fields.Boolean()
    text = fields.String()
    created_at = fields.DateTime()
    attachments = fields.List(fields.Nested(AttachmentOut()))


def _note(event: Event, files: dict[int, list[CaseAttachment]]) -> dict:
    data = event.data or {}
    return {"seq": event.seq, "author": event.actor.username if event.actor else None,
            "internal": bool(data.get("internal")), "text": data.get("text", ""), "created_at": event.created_at,
            "attachments": [{"id": f.id, "filename": f.filename, "content_type": f.content_type, "size": f.size,
                             "sha256": f.sha256, "url": url_for("api_instances.attachment",
                                                                instance_id=event.instance_id, attachment_id=f.id)}
                            for f in files.get(event.seq, [])]}


_TASKS = TaskSchema(many=True)
SCOPE_PARAM = {"in": "query", "name": "scope", "required": False,
               "schema": {"type": "string", "enum": list(cases.SCOPES)},
               "description": "visible (default): every case the caller may see; mine: the caller's own requests"}


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY, parameters=[SCOPE_PARAM, *FILTER_PARAMS, *PAGE_PARAMS])
@blp.response(200)
@blp.alt_response(400, schema=ProblemSchema, description="A filter that is not valid")
@token_required
def list_instances():  # noqa: ANN201
    """Cases the caller may see, newest first, with where each stands now (has_next instead of a count)."""
    flt = cases.InstanceFilter.from_args(request.args)
    page, per_page = max(int_arg("page", 1), 1), int_arg("per_page", 50)
    rows, has_next = cases.search(api_user(), flt, request.args.get("scope") or "visible", page, per_page)
    current = cases.open_tasks_of(rows)
    return {"page": page, "has_next": has_next,
            "items": [{**cases.instance_summary(i), "open_tasks": _TASKS.dump(current[i.id])} for i in rows]}


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
    user = api_user()
    return cases.readable_events(instances.get_instance(instance_id, user), user)


@blp.route("/<int:instance_id>/notes", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, NoteOut(many=True))
@token_required
def notes(instance_id: int):  # noqa: ANN201
    """The case's notes, oldest first (internal notes only for staff and auditors)."""
    user = api_user()
    instance = instances.get_instance(instance_id, user)
    files = cases.attachments_of(instance, user)
    return [_note(e, files) for e in cases.notes(instance, user)]


@blp.route("/<int:instance_id>/notes", methods=["POST"])
@blp.doc(security=SECURITY, responses={"201": {"description": "The note", "content": {
    "application/json": {"schema": "NoteOut"}}}})
@blp.arguments(NoteIn())
@blp.response(201)
@blp.alt_response(400, schema=ProblemSchema, description="An empty note, or a file refused (type, size, content)")
@blp.alt_response(403, schema=ProblemSchema, description="Not allowed: an auditor, or an internal note by a requester")
@blp.alt_response(409, schema=ProblemSchema, description="The case is closed")
@token_required
def add_note(body: dict, instance_id: int):  # noqa: ANN201
    """Add a note to a running case; the requester (public notes) and those working on the case are notified."""
    user = api_user()
    with attachments_named():
        note = cases.add_note(instance_id, user, body["text"], internal=body["internal"],
                              files=decoded_files(body["attachments"]))
    out = NoteOut().dump(_note(note, cases.attachments_of(note.instance, user)))  # before the commit expires it
    db.session.commit()
    return out


@blp.route("/<int:instance_id>/attachments/<int:attachment_id>", methods=["GET"])
@blp.doc(security=SECURITY, responses={"200": {"description": "The file's bytes", "content": {
    "application/octet-stream": {}, "image/png": {}, "image/jpeg": {}, "image/gif": {}}}})
@token_required
def attachment(instance_id: int, attachment_id: int):  # noqa: ANN201
    """A file attached to a note of the case (an internal note's files: staff and auditors only)."""
    att = cases.get_attachment(instance_id, attachment_id, api_user())
    return stored_file(att.data, att.filename, att.content_type, inline=att.content_type in cases.IMAGE_TYPES)


class WithdrawIn(Schema):
    reason = fields.String(required=True, validate=validate.Length(max=500))


@blp.route("/<int:instance_id>/withdraw", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(WithdrawIn())
@blp.response(200)
@blp.alt_response(400, schema=ProblemSchema, description="No reason given")
@blp.alt_response(403, schema=ProblemSchema, description="Not the requester of this case")
@blp.alt_response(409, schema=ProblemSchema, description="The case is no longer running")
@token_required
def withdraw(body: dict, instance_id: int):  # noqa: ANN201
    """The requester withdraws their running request: its tasks are cancelled and whoever held them is told."""
    instance = cases.withdraw(instance_id, api_user(), body["reason"])
    out = instance_dict(instance, _record(instance))  # before the commit, inside the one transaction
    db.session.commit()
    return out
