"""IT assets: list, register, asset page (lifecycle, assignment, stock, CI link), reminders, statistics."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..models import User
from ..services import assets, cmdb, vendors
from ..services.errors import ServiceError

bp = Blueprint("assets", __name__, url_prefix="/assets")
_FIELDS = ("serial_number", "supplier", "location", "purchase_date", "warranty_end", "contract_end", "quantity",
           "min_stock", "notes")


def _may_write() -> bool:
    return current_user.in_group(*assets.WRITER_GROUPS)


@bp.route("")
@login_required
def index():  # noqa: ANN201
    q = request.args.get("q", "")
    asset_type = request.args.get("asset_type") or None
    status = request.args.get("status") or None
    return render_template("assets/index.html", items=assets.list_assets(current_user, q, asset_type, status), q=q,
                           asset_type=asset_type, status=status, types=assets.TYPES, statuses=assets.STATUSES,
                           may_write=_may_write())


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # noqa: ANN201
    if not _may_write():
        abort(403)
    if request.method == "POST":
        try:
            asset = assets.create_asset(current_user, asset_type=request.form.get("asset_type", ""),
                                        name=request.form.get("name", ""),
                                        **{f: request.form.get(f, "") for f in _FIELDS})
            db.session.commit()
            flash(_("Asset %(tag)s registered.", tag=asset.tag), "success")
            return redirect(url_for("assets.show", tag=asset.tag))
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return render_template("assets/new.html", types=assets.TYPES, values=request.form,
                                   supplier_names=vendors.names()), 400
    return render_template("assets/new.html", types=assets.TYPES, values={}, supplier_names=vendors.names())


@bp.route("/<tag>")
@login_required
def show(tag: str):  # noqa: ANN201
    asset = assets.get_asset(current_user, tag)
    return render_template("assets/show.html", asset=asset, history=assets.history(asset),
                           transitions=sorted(assets.TRANSITIONS[asset.status]), may_write=_may_write())


@bp.route("/<tag>/<action>", methods=["POST"])
@login_required
def act(tag: str, action: str):  # noqa: ANN201
    asset = assets.get_asset(current_user, tag)
    form = request.form
    try:
        if action == "status":
            assets.transition(current_user, asset, form.get("status", ""))
        elif action == "assign":
            username = form.get("username", "").strip()
            user = db.session.scalar(select(User).where(User.username == username)) if username else None
            if username and user is None:
                flash(_("No such user."), "error")
                return redirect(url_for("assets.show", tag=tag))
            assets.assign(current_user, asset, user, form.get("location"))
        elif action == "stock":
            assets.adjust_stock(current_user, asset, int(form.get("delta", "0") or 0))
        elif action == "edit":
            assets.update_asset(current_user, asset, {f: form[f] for f in _FIELDS if f in form})
        elif action == "ci":
            code = form.get("ci", "").strip()
            assets.link_ci(current_user, asset, cmdb.get_ci(current_user, code) if code else None)
        else:
            abort(404)
        db.session.commit()
        flash(_("Asset updated."), "success")
    except ValueError:
        db.session.rollback()
        flash(_("Enter a whole number."), "error")
    except ServiceError as exc:
        db.session.rollback()
        if exc.status == 403:
            raise
        flash(exc.message, "error")
    return redirect(url_for("assets.show", tag=tag))


@bp.route("/reminders")
@login_required
def reminders():  # noqa: ANN201
    days = min(max(request.args.get("days", 30, type=int) or 30, 1), 3650)
    return render_template("assets/reminders.html", rows=assets.reminders(current_user, days), days=days,
                           low=assets.low_stock(current_user))


@bp.route("/stats")
@login_required
def stats():  # noqa: ANN201
    return render_template("assets/stats.html", stats=assets.statistics(current_user))
