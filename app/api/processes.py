"""Deployed processes and starting instances."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..extensions import db
from ..services import cases, incident, instances
from ..services.definitions import compiled_for, deployed_processes
from .common import (
    SECURITY,
    AttachmentIn,
    api_user,
    attachments_named,
    decoded_files,
    instance_dict,
    token_required,
)

PREFIX = "/processes"
blp = Blueprint("api_processes", __name__, description="Process definitions")


class ProcessOut(Schema):
    process_id = fields.String()
    name = fields.String()
    version = fields.Integer()
    content_hash = fields.String()
    deployed_at = fields.DateTime()
    deployed_by = fields.String(allow_none=True)
    start_form = fields.Dict(allow_none=True)
    names = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "The process name in other languages, by language code"})
    step_names = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.String()),
                             metadata={"description": "Step names in other languages: language -> element id "
                                                      "(a task's spec_id) -> name"})


class StartIn(Schema):
    data = fields.Dict(required=True)
    attachments = fields.List(fields.Nested(AttachmentIn()), load_default=list, metadata={
        "description": "files for the case (screenshots, logs), as a note's; they become the case's first note"})


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, ProcessOut(many=True))
@token_required
def list_processes():  # noqa: ANN201
    """Latest version of every deployed process, with its start form's JSON Schema."""
    out = []
    for v in deployed_processes():
        compiled = compiled_for(v)
        out.append({
            "process_id": v.process_id, "name": v.name, "version": v.version, "content_hash": v.content_hash,
            "deployed_at": v.deployed_at, "deployed_by": v.deployed_by.username if v.deployed_by else None,
            "start_form": compiled.forms.get(compiled.start_form) if compiled.start_form else None,
            "names": {lang: names[v.process_id] for lang, names in compiled.names.items() if v.process_id in names},
            "step_names": {lang: {k: t for k, t in names.items() if k in compiled.elements}
                           for lang, names in compiled.names.items()},
        })
    return out


@blp.route("/<process_id>/instances", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(StartIn())
@blp.response(201)
@token_required
def start(body: dict, process_id: str):  # noqa: ANN201
    """Start an instance of the latest version with start-form data."""
    user = api_user()
    files = decoded_files(body["attachments"])
    with attachments_named():
        if process_id == incident.PROCESS_ID:
            # The desk records on behalf of callers; anyone else reports their own fault.
            start_fn = incident.record_incident if user.in_group("service_desk") else incident.report_fault
            instance = start_fn(user, body["data"], files=files)
        else:
            instance = cases.attach_first_files(
                instances.start_instance(process_id, user, body["data"], requester=user), user, files)
    answer = instance_dict(instance)
    db.session.commit()
    return answer
