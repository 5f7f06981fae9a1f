"""SLA pages: an item's clocks with their timeline, and the organisation's business calendar."""
from __future__ import annotations

import json

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import db
from ..models.base import utcnow
from ..services import sla
from ..services.errors import ValidationFailed

bp = Blueprint("sla", __name__, url_prefix="/sla")


@bp.route("/instances/<int:instance_id>")
@login_required
def item(instance_id: int):  # noqa: ANN201
    instance = sla.get_item(instance_id, current_user)
    now = utcnow()
    return render_template("sla/item.html", instance=instance, rows=sla.sla_view(instance, current_user, now),
                           now=now)


@bp.route("/calendar", methods=["GET", "POST"])
@login_required
def calendar():  # noqa: ANN201
    org = current_user.organisation
    editable = sla.may_edit_calendar(current_user)
    text = json.dumps(sla.calendar_for(current_user), ensure_ascii=False, indent=1)
    error = None
    if request.method == "POST" and not editable:
        abort(403)
    if request.method == "POST":
        text = request.form.get("calendar", "")
        try:
            spec = json.loads(text)
            sla.set_calendar(org, current_user, spec)
            db.session.commit()
            flash(_("Calendar saved."))
            return redirect(url_for("sla.calendar"))
        except json.JSONDecodeError as exc:
            error = str(exc)
        except ValidationFailed as exc:
            error = "; ".join(exc.errors.get("calendar", []))
    return render_template("sla/calendar.html", organisation=org, text=text, editable=editable,
                           error=error), 400 if error else 200


@bp.route("/reports")
@login_required
def reports():  # noqa: ANN201
    return render_template("sla/reports.html", reports=sla.reports_for(current_user))


@bp.route("/reports/<int:report_id>")
@login_required
def report(report_id: int):  # noqa: ANN201
    found = next((r for r in sla.reports_for(current_user) if r.id == report_id), None)
    if found is None:
        abort(404)
    return render_template("sla/report.html", report=found)
