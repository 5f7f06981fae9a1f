"""Related incidents that may share a cause (spec 6.2 problem management): the candidates, and opening a problem."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import db
from ..services import correlation
from ..services.errors import ValidationFailed

bp = Blueprint("correlation", __name__, url_prefix="/correlation")


@bp.route("/")
@login_required
def index():  # noqa: ANN201
    days, minimum = request.args.get("days", "30"), request.args.get("min_incidents", "3")
    errors: dict = {}
    try:
        found = correlation.candidates(current_user, days, minimum)
    except ValidationFailed as exc:
        errors, found, days, minimum = exc.errors, correlation.candidates(current_user), "30", "3"
    return render_template("correlation/index.html", candidates=found, days=days, minimum=minimum, errors=errors,
                           may_open=current_user.in_group(*correlation.OPENERS)), 400 if errors else 200


@bp.route("/problems", methods=["POST"])
@login_required
def open_problem():  # noqa: ANN201
    form = request.form
    problem = correlation.open_problem(current_user, form.get("kind", ""), form.get("key", ""),
                                       form.get("days", "30"), form.get("min_incidents", "3"))
    db.session.commit()
    flash(_("Problem %(key)s opened; the related incidents are linked to it.", key=problem.business_key))
    return redirect(url_for("instances.show", instance_id=problem.id))
