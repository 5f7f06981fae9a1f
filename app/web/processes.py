"""Start any deployed process from its start form; the known-error database (KEDB) for the desk."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user, login_required

from ..services import instances, problem
from ..services.definitions import compiled_for, deployed_processes, require_latest
from .startform import start_form_page

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
    return start_form_page(
        compiled.forms[compiled.start_form],
        lambda values: instances.start_instance(process_id, current_user, values, requester=current_user),
        "processes/start.html", compiled=compiled,
    )


@bp.route("/kedb")
@login_required
def kedb():  # noqa: ANN201
    if not current_user.memberships:  # staff only; reporters see solutions through their own cases
        abort(403)
    q = request.args.get("q", "")
    return render_template("processes/kedb.html", entries=problem.known_errors(q), q=q)
