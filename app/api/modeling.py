"""Deploying edited definitions: process versions from a .bpmn upload, decisions from a .dmn upload, history."""
from __future__ import annotations

from flask import Response, request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..extensions import db
from ..services import modeling
from ..services.errors import DefinitionRejected, ServiceError, ValidationFailed
from .common import SECURITY, api_user, token_required

PREFIX = ""
blp = Blueprint("api_modeling", __name__, description="Editing and deploying process definitions")

ISSUES = {"description": "Validation failed; nothing was deployed. `issues` lists each problem with its "
                         "`element_id` and `file`.", "content": {"application/json": {"schema": {
                             "type": "object", "properties": {
                                 "error": {"type": "string"}, "message": {"type": "string"},
                                 "issues": {"type": "array", "items": {"type": "object", "properties": {
                                     "message": {"type": "string"}, "element_id": {"type": "string", "nullable": True},
                                     "file": {"type": "string", "nullable": True}}}}}}}}}


def _upload_body(field: str, suffix: str) -> dict:
    return {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": [field],
        "properties": {field: {"type": "string", "format": "binary", "description": f"a {suffix} file"},
                       "note": {"type": "string", "description": "change note"},
                       **({"files": {"type": "array", "items": {"type": "string", "format": "binary"},
                                     "description": "optional .dmn tables and .json forms replacing the "
                                                    "current version's files of the same name"}}
                          if suffix == ".bpmn" else {})}}}}},
            "responses": {"422": ISSUES}}


class VersionOut(Schema):
    process_id = fields.String()
    version = fields.Integer()
    content_hash = fields.String()
    note = fields.String()
    name = fields.String()
    deployed_by = fields.String(allow_none=True)
    deployed_at = fields.String(allow_none=True)


class DecisionDeployOut(Schema):
    decision_id = fields.String()
    versions = fields.List(fields.Nested(VersionOut))


def _file(field: str, suffix: str) -> bytes:
    upload = request.files.get(field)
    if upload is None or not (upload.filename or "").lower().endswith(suffix):
        raise ValidationFailed(_("Send a %(suffix)s file.", suffix=suffix),
                               {field: [_("Send a %(suffix)s file.", suffix=suffix)]})
    return upload.read()


def _replacements(process_id: str) -> dict[str, bytes]:
    """Optional `files` parts replacing the current version's DMN tables (.dmn) or forms (.json)."""
    out: dict[str, bytes] = {}
    for upload in request.files.getlist("files"):
        name = (upload.filename or "").replace("\\", "/").rsplit("/", 1)[-1]
        if name.endswith(".dmn"):
            out[f"dmn/{name}"] = upload.read()
        elif name.endswith(".json") and not name.startswith("."):
            out[f"forms/{process_id}/{name}"] = upload.read()
        else:
            raise ValidationFailed(_("Only .dmn and .json files may replace parts of a version."),
                                   {"files": [name]})
    return out


def _note() -> str:
    return (request.form.get("note") or "").strip()[:500]


@blp.route("/processes/<process_id>/versions", methods=["POST"])
@blp.doc(security=SECURITY, **_upload_body("file", ".bpmn"))
@blp.response(201, VersionOut)
@token_required
def deploy_process(process_id: str):  # noqa: ANN201
    """Validate an uploaded BPMN document and deploy it as the next version (DMN and forms are reused).

    Optional `files` parts replace DMN tables or forms of the same name. 201 with the new version; 200 with
    the current version when nothing changed; 422 with every issue (element id and file) otherwise.
    """
    user = api_user()
    modeling.require_editor(user)
    try:
        version, created = modeling.deploy_upload(process_id, _file("file", ".bpmn"), user, _note(),
                                                   _replacements(process_id))
    except ServiceError:
        db.session.rollback()
        raise
    db.session.commit()
    # Unchanged content makes no new version: the current one comes back with 200.
    return modeling.version_dict(version), 201 if created else 200


@blp.route("/processes/<process_id>/versions", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, VersionOut(many=True))
@token_required
def process_history(process_id: str):  # noqa: ANN201
    """Every version of a process, newest first, with author, time and note."""
    modeling.require_editor(api_user())
    return [modeling.version_dict(v) for v in modeling.history(process_id)]


@blp.route("/processes/<process_id>/versions/<int:number>/bpmn", methods=["GET"])
@blp.doc(security=SECURITY, responses={"200": {"description": "The BPMN document",
                                               "content": {"application/xml": {"schema": {"type": "string"}}}}})
@token_required
def download_bpmn(process_id: str, number: int):  # noqa: ANN201
    """Download the BPMN document of one version."""
    modeling.require_editor(api_user())
    version = modeling.require_version(process_id, number)
    return Response(version.bpmn_xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{version.process_id}-v{version.version}.bpmn"'})


@blp.route("/decisions/<decision_id>/versions", methods=["POST"])
@blp.doc(security=SECURITY, **_upload_body("file", ".dmn"))
@blp.response(201, DecisionDeployOut)
@token_required
def deploy_decision(decision_id: str):  # noqa: ANN201
    """Validate a decision table and deploy a new version of every process using it (all or nothing)."""
    user = api_user()
    modeling.require_editor(user)
    try:
        versions = modeling.deploy_decision(decision_id, _file("file", ".dmn"), user, _note())
    except (ServiceError, DefinitionRejected):
        db.session.rollback()
        raise
    db.session.commit()
    return {"decision_id": decision_id, "versions": [modeling.version_dict(v) for v in versions]}
