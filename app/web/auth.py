"""Login, logout and language choice."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db
from ..services.accounts import LoginRefused, authenticate, change_password
from ..services.errors import ValidationFailed

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    if request.method == "POST":
        username = request.form.get("username", "")
        try:
            user = authenticate(username, request.form.get("password", ""), channel="web",
                                remote_addr=request.remote_addr)
        except LoginRefused as exc:
            db.session.commit()  # the refused try is in the security log
            flash(exc.message, "error")
            return render_template("auth/login.html", username=username), 429, exc.headers
        db.session.commit()  # a failed try counts towards the lock; every try is in the security log
        if user is None:
            flash(_("Wrong username or password."), "error")
            return render_template("auth/login.html", username=username), 401
        login_user(user)
        target = request.args.get("next") or ""
        # Only local redirects: an open redirect would make the login page a phishing aid.
        if not target.startswith("/") or urlparse(target).netloc or target.startswith("//"):
            target = url_for("inbox.index")
        return redirect(target)
    return render_template("auth/login.html", username="")


@bp.route("/logout", methods=["POST"])
@login_required
def logout():  # noqa: ANN201
    logout_user()
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
def password():  # noqa: ANN201
    if request.method == "POST":
        try:
            user = change_password(current_user._get_current_object(), request.form.get("current", ""),
                                   request.form.get("new", ""), request.form.get("repeated", ""),
                                   remote_addr=request.remote_addr)
        except ValidationFailed as exc:
            db.session.commit()  # the refused change is in the security log
            return render_template("auth/password.html", errors=exc.errors), 400
        db.session.commit()
        login_user(user)  # this session carries on under the new token version; every other one has ended
        flash(_("Your password has been changed. Other sessions and API tokens no longer work."), "success")
        return redirect(url_for("inbox.index"))
    return render_template("auth/password.html", errors={})
