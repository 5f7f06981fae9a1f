"""Login, logout and language choice."""
from __future__ import annotations

from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required, login_user, logout_user

from ..services.identity import authenticate

bp = Blueprint("auth", __name__)


@bp.route("/login", methods=["GET", "POST"])
def login():  # noqa: ANN201
    if request.method == "POST":
        user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        if user is None:
            flash(_("Wrong username or password."), "error")
            return render_template("auth/login.html", username=request.form.get("username", "")), 401
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
