"""Notification list and the user's notification settings."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from ..extensions import db
from ..services import dispatch, notifications
from ..services.errors import ValidationFailed

bp = Blueprint("notifications", __name__, url_prefix="/notifications")
# What each kind is called in the settings (every kind of services.notifications.TEMPLATES has one).
KIND_LABELS = {"sla_warning": _l("SLA warnings"), "sla_breach": _l("SLA breaches"),
               "support_too_slow": _l("Support group too slow"), "task_assigned": _l("A task is given to me"),
               "case_closed": _l("My request is closed"), "case_withdrawn": _l("A request I work on is withdrawn"),
               "case_note": _l("Notes on my cases"), "contract_ending": _l("A supplier's contract ends soon"),
               "case_received": _l("My e-mail to the desk is recorded")}


@bp.route("/")
@login_required
def index():  # noqa: ANN201
    return render_template("notifications/index.html", items=notifications.for_user(current_user),
                           pref=notifications.preference(current_user),
                           kinds=[(k, KIND_LABELS[k]) for k in notifications.KINDS],
                           away=dispatch.is_away(current_user))


@bp.route("/away", methods=["POST"])
@login_required
def away():  # noqa: ANN201
    """Away until a local time (leave, training, off duty), or back now: automatic dispatch passes over the away."""
    text = "" if request.form.get("back") else request.form.get("away_until", "").strip()
    try:
        until = None
        if text:
            try:
                local = datetime.fromisoformat(text)
            except ValueError:
                raise ValidationFailed(_("Check the time."), {"away_until": [_("Give a date and time.")]}) from None
            zone = ZoneInfo(current_app.config["BABEL_DEFAULT_TIMEZONE"])  # the form's time is the product's
            until = local if local.tzinfo else local.replace(tzinfo=zone)
        dispatch.set_away(current_user, current_user, until)
        db.session.commit()
        flash(_("You are away until %(when)s.", when=text.replace("T", " ")) if until else _("You are back."))
    except ValidationFailed as exc:
        flash(" ".join(m for ms in exc.errors.values() for m in ms), "error")
    return redirect(url_for("notifications.index"))


@bp.route("/<int:notification_id>/read", methods=["POST"])
@login_required
def read(notification_id: int):  # noqa: ANN201
    notifications.mark_read(notification_id, current_user)
    db.session.commit()
    return redirect(url_for("notifications.index"))


@bp.route("/settings", methods=["POST"])
@login_required
def settings():  # noqa: ANN201
    notifications.set_preference(current_user, current_user, email=bool(request.form.get("email")),
                                 webhook_url=request.form.get("webhook_url", ""),
                                 muted_kinds=request.form.getlist("muted"))
    db.session.commit()
    return redirect(url_for("notifications.index"))
