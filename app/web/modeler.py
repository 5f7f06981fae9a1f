"""The process library and the browser editors for BPMN, DMN and forms (process owners and administrators)."""
from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    get_template_attribute,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from ..extensions import db, login_manager
from ..models import ProcessInstance
from ..services import modeling
from ..services.errors import DefinitionRejected, ServiceError

bp = Blueprint("modeler", __name__, url_prefix="/modeler")


@bp.before_request
def _editors_only() -> Any:
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if not modeling.may_edit(current_user):
        abort(403)
    return None


def _json_error(exc: ServiceError) -> tuple[Response, int]:
    db.session.rollback()
    return jsonify(exc.to_dict()), exc.status


def _body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        abort(400)
    return body


def _saved(version: Any, created: bool) -> dict:
    return {**modeling.version_dict(version), "created": created,
            "message": (_("Version %(n)s deployed.", n=version.version) if created
                        else _("Nothing changed; version %(n)s stays current.", n=version.version))}


@bp.route("")
def library():  # noqa: ANN201
    return render_template("modeler/library.html", rows=modeling.library(), decisions=modeling.decisions())


# -- BPMN -----------------------------------------------------------------------------------------
@bp.route("/<process_id>")
def editor(process_id: str):  # noqa: ANN201
    version = modeling.require_version(process_id)
    return render_template("modeler/editor.html", version=version, forms=modeling.version_forms(version),
                           groups=modeling.groups(), decisions=sorted(modeling.decisions()))


@bp.route("/<process_id>/save", methods=["POST"])
def save(process_id: str):  # noqa: ANN201
    body = _body()
    xml = body.get("xml")
    if not isinstance(xml, str):
        abort(400)
    try:
        version, created = modeling.deploy_upload(process_id, xml.encode("utf-8"), current_user,
                                                  str(body.get("note") or "")[:500])
    except ServiceError as exc:
        return _json_error(exc)
    db.session.commit()
    return jsonify(_saved(version, created)), 201 if created else 200


@bp.route("/<process_id>/versions/<int:number>/bpmn")
def download(process_id: str, number: int):  # noqa: ANN201
    version = modeling.require_version(process_id, number)
    return Response(version.bpmn_xml, mimetype="application/xml", headers={
        "Content-Disposition": f'attachment; filename="{version.bpmn_name}"'})


@bp.route("/<process_id>/versions")
def versions(process_id: str):  # noqa: ANN201
    history = modeling.history(process_id)
    a = request.args.get("a", type=int)
    b = request.args.get("b", type=int)
    diff = None
    if a and b:
        diff = modeling.compare(process_id, a, b)
    running = {v.id: db.session.query(ProcessInstance).filter_by(version_id=v.id, status="running").count()
               for v in history}
    return render_template("modeler/versions.html", process_id=process_id, history=history, diff=diff,
                           a=a, b=b, running=running)


@bp.route("/<process_id>/migrate", methods=["POST"])
def migrate(process_id: str):  # noqa: ANN201
    source = request.form.get("from", type=int)
    target = request.form.get("to", type=int)
    if not source or not target:
        abort(400)
    try:
        result = modeling.migrate_instances(process_id, source, target, current_user)
    except ServiceError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for(".versions", process_id=process_id))
    db.session.commit()
    flash(_("%(n)d instance(s) migrated to version %(v)s.", n=len(result["moved"]), v=target), "success")
    for refused in result["refused"]:
        flash(f"{refused['business_key']}: {'; '.join(refused['reasons'])}", "error")
    return redirect(url_for(".versions", process_id=process_id))


# -- DMN ------------------------------------------------------------------------------------------
@bp.route("/decisions/<decision_id>")
def decision(decision_id: str):  # noqa: ANN201
    path, xml = modeling.decision_source(decision_id)
    return render_template("modeler/decision.html", decision_id=decision_id, path=path, xml=xml,
                           inputs=modeling.decision_inputs(xml.encode("utf-8")),
                           users=modeling.decisions().get(decision_id, []))


@bp.route("/decisions/<decision_id>/save", methods=["POST"])
def save_decision(decision_id: str):  # noqa: ANN201
    body = _body()
    xml = body.get("xml")
    if not isinstance(xml, str):
        abort(400)
    try:
        deployed = modeling.deploy_decision(decision_id, xml.encode("utf-8"), current_user,
                                            str(body.get("note") or "")[:500])
    except ServiceError as exc:
        return _json_error(exc)
    db.session.commit()
    return jsonify({"decision_id": decision_id, "versions": [modeling.version_dict(v) for v in deployed],
                    "message": _("%(n)d process version(s) deployed.", n=len(deployed))}), 201


@bp.route("/decisions/<decision_id>/try", methods=["POST"])
def try_decision(decision_id: str):  # noqa: ANN201
    body = _body()
    xml, data = body.get("xml"), body.get("data")
    if not isinstance(xml, str) or not isinstance(data, dict):
        abort(400)
    try:
        return jsonify(modeling.try_decision(xml.encode("utf-8"), data, current_user))
    except DefinitionRejected as exc:
        return _json_error(exc)


# -- forms ----------------------------------------------------------------------------------------
@bp.route("/<process_id>/forms/<filename>")
def form(process_id: str, filename: str):  # noqa: ANN201
    text = modeling.form_source(process_id, filename)
    return render_template("modeler/form.html", process_id=process_id, filename=filename, text=text,
                           preview=_render_form(modeling.check_form(filename, text)))


def _render_form(schema: dict) -> str:
    render = get_template_attribute("_form.html", "render")
    return str(render(schema, {}, {}, cis=[], disabled=True))


@bp.route("/<process_id>/forms/<filename>/preview", methods=["POST"])
def form_preview(process_id: str, filename: str):  # noqa: ANN201
    text = _body().get("text")
    if not isinstance(text, str):
        abort(400)
    try:
        schema = modeling.check_form(filename, text)
        return jsonify({"html": _render_form(schema), "error": None})
    except DefinitionRejected as exc:
        return jsonify({"html": None, "error": exc.message}), 422
    except Exception as exc:  # a schema the renderer cannot show is reported, not a server error
        return jsonify({"html": None, "error": f"{type(exc).__name__}: {exc}"}), 422


@bp.route("/<process_id>/forms/<filename>/save", methods=["POST"])
def save_form(process_id: str, filename: str):  # noqa: ANN201
    body = _body()
    text = body.get("text")
    if not isinstance(text, str):
        abort(400)
    try:
        version, created = modeling.deploy_form(process_id, filename, text, current_user,
                                                str(body.get("note") or "")[:500])
    except ServiceError as exc:
        return _json_error(exc)
    db.session.commit()
    return jsonify(_saved(version, created)), 201 if created else 200
