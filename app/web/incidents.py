"""Report a fault (any user) and record an incident (service desk)."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import db
from ..services import forms, incident
from ..services.definitions import compiled_for, require_latest
from ..services.errors import ValidationFailed

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def _start_schema() -> dict:
    compiled = compiled_for(require_latest(incident.PROCESS_ID))
    return compiled.forms[compiled.start_form] if compiled.start_form else {"type": "object", "properties": {}}


def _start_page(mode: str):  # noqa: ANN202
    schema = _start_schema()
    values: dict = {}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        values = forms.coerce_post(schema, request.form)
        try:
            if mode == "record":
                instance = incident.record_incident(current_user, values)
            else:
                instance = incident.report_fault(current_user, values)
            db.session.commit()
            flash(_("Incident %(key)s recorded.", key=instance.business_key), "success")
            return redirect(url_for("instances.show", instance_id=instance.id))
        except ValidationFailed as exc:
            db.session.rollback()
            errors, status = exc.errors, 400
            flash(exc.message, "error")
    return render_template("incidents/new.html", schema=schema, values=values, errors=errors, mode=mode,
                           cis=incident.configuration_items(current_user)), status


@bp.route("/report", methods=["GET", "POST"])
@login_required
def report():  # noqa: ANN201
    return _start_page("report")


@bp.route("/record", methods=["GET", "POST"])
@login_required
def record():  # noqa: ANN201
    if not current_user.in_group("service_desk"):
        abort(403)
    return _start_page("record")
