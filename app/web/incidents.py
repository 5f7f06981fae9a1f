"""Report a fault (any user) and record an incident (service desk)."""
from __future__ import annotations

from flask import Blueprint, abort
from flask_login import current_user, login_required

from ..services import cases, incident
from ..services.definitions import compiled_for, require_latest
from .startform import start_form_page
from .uploads import posted_files

bp = Blueprint("incidents", __name__, url_prefix="/incidents")


def _start_schema() -> dict:
    compiled = compiled_for(require_latest(incident.PROCESS_ID))
    return compiled.forms[compiled.start_form] if compiled.start_form else {"type": "object", "properties": {}}


def _start_page(mode: str):  # noqa: ANN202
    start = incident.record_incident if mode == "record" else incident.report_fault
    return start_form_page(_start_schema(), lambda values: start(current_user, values, files=posted_files()),
                           "incidents/new.html", mode=mode, accept=",".join(cases.ATTACHMENT_TYPES),
                           max_files=cases.MAX_FILES_PER_NOTE)


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
