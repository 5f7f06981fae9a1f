"""Start any deployed process from its start form; the known-error database (KEDB) for the desk."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import db
from ..services import forms, instances, problem
from ..services.definitions import compiled_for, deployed_processes, require_latest
from ..services.errors import ValidationFailed
from ..services.incident import configuration_items

bp = Blueprint("processes", __name__)


@bp.route("/processes")
@login_required
def index():  # noqa: ANN201
    return render_template("processes/index.html", processes=deployed_processes())


@bp.route("/processes/<process_id>/start", methods=["GET", "POST"])
@login_required
def start(process_id: str):  # noqa: ANN201
    compiled = compiled_for(require_latest(process_id))
    if not compiled.start_form:
        abort(404)
    schema = compiled.forms[compiled.start_form]
    values: dict = {}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        values = forms.coerce_post(schema, request.form)
        try:
            instance = instances.start_instance(process_id, current_user, values, requester=current_user)
            db.session.commit()
            flash(_("Case %(key)s started.", key=instance.business_key), "success")
            return redirect(url_for("instances.show", instance_id=instance.id))
        except ValidationFailed as exc:
            db.session.rollback()
            errors, status = exc.errors, 400
            flash(exc.message, "error")
    return render_template("processes/start.html", compiled=compiled, schema=schema, values=values,
                           errors=errors, cis=configuration_items(current_user)), status


@bp.route("/kedb")
@login_required
def kedb():  # noqa: ANN201
    if not current_user.memberships:  # staff only; reporters see solutions through their own cases
        abort(403)
    q = request.args.get("q", "")
    return render_template("processes/kedb.html", entries=problem.known_errors(q), q=q)
