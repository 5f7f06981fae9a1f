"""Administrators' user pages: list, create, edit, deactivate, reset a password, lift a lock."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..models import Group, Organisation
from ..services import users
from ..services.errors import ValidationFailed
from ..services.identity import DESK_TIERS

bp = Blueprint("users", __name__, url_prefix="/admin/users")


def _account() -> users.Account:
    form = request.form
    return users.Account(display_name=form.get("display_name", ""), organisation_code=form.get("organisation", ""),
                         groups=form.getlist("groups"), email=form.get("email", ""), phone=form.get("phone", ""),
                         desk_tier=form.get("desk_tier") or None)


def _form(template: str, status: int = 200, **context):  # noqa: ANN003, ANN202
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.id)).all()
    groups = db.session.scalars(select(Group).where(Group.code != "integration").order_by(Group.id)).all()
    return render_template(template, orgs=orgs, groups=groups, tiers=DESK_TIERS, **context), status


@bp.route("")
@login_required
def index():  # noqa: ANN201
    q, org, group = (request.args.get(k, "").strip() for k in ("q", "organisation", "group"))
    rows = users.list_users(current_user, q=q, organisation=org, group=group)
    return _form("admin/users.html", rows=rows, q=q, organisation=org, group=group)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # noqa: ANN201
    users.require_admin(current_user)
    if request.method == "POST":
        try:
            user = users.create_account(current_user, request.form.get("username", ""), _account(),
                                        request.form.get("password", ""))
        except ValidationFailed as exc:
            return _form("admin/user_form.html", 400, account=None, values=request.form, errors=exc.errors)
        db.session.commit()
        flash(_("Account %(name)s created; its owner chooses a new password at first login.", name=user.username),
              "success")
        return redirect(url_for("users.show", user_id=user.id))
    return _form("admin/user_form.html", account=None, values={}, errors={})


@bp.route("/<int:user_id>", methods=["GET", "POST"])
@login_required
def show(user_id: int):  # noqa: ANN201
    user = users.get_user(current_user, user_id)
    if request.method == "POST":
        try:
            users.update_account(current_user, user, _account())
        except ValidationFailed as exc:
            db.session.rollback()
            return _form("admin/user_form.html", 400, account=users.get_user(current_user, user_id),
                         values=request.form, errors=exc.errors)
        db.session.commit()
        flash(_("Account changed."), "success")
        return redirect(url_for("users.show", user_id=user.id))
    values = {"display_name": user.display_name, "organisation": user.organisation.code, "email": user.email,
              "phone": user.phone, "desk_tier": user.tier() or ""}
    # `account`, not `user`: templates already have `user`, the one logged in
    return _form("admin/user_form.html", account=user, values=values, groups_of=user.group_codes, errors={})


@bp.route("/<int:user_id>/active", methods=["POST"])
@login_required
def active(user_id: int):  # noqa: ANN201
    user = users.set_active(current_user, users.get_user(current_user, user_id), request.form.get("active") == "1")
    db.session.commit()
    flash(_("Account reactivated.") if user.active else _("Account deactivated; its sessions and tokens ended."),
          "success")
    return redirect(url_for("users.show", user_id=user_id))


@bp.route("/<int:user_id>/password", methods=["POST"])
@login_required
def reset(user_id: int):  # noqa: ANN201
    user = users.get_user(current_user, user_id)
    try:
        users.reset_password(current_user, user, request.form.get("password", ""))
    except ValidationFailed as exc:
        flash(" ".join(exc.errors.get("password", [exc.message])), "error")
        return redirect(url_for("users.show", user_id=user_id))
    db.session.commit()
    flash(_("Password reset; its owner chooses a new one at next login."), "success")
    return redirect(url_for("users.show", user_id=user_id))


@bp.route("/<int:user_id>/unlock", methods=["POST"])
@login_required
def unlock(user_id: int):  # noqa: ANN201
    users.unlock_account(current_user, users.get_user(current_user, user_id))
    db.session.commit()
    flash(_("Account unlocked."), "success")
    return redirect(url_for("users.show", user_id=user_id))
