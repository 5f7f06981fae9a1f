"""Suppliers (spec 6.2(5) outsourcing management): list, contract, staff, evaluations and process control."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from ..extensions import db
from ..services import kpi, vendors
from ..services.errors import Conflict, ValidationFailed

bp = Blueprint("vendors", __name__, url_prefix="/suppliers")
KIND_LABELS = {"infrastructure": _l("Infrastructure supplier"), "application": _l("Application software supplier"),
               "terminal": _l("End-user terminal supplier"), "service": _l("O&M service supplier")}


def _form_fields() -> dict[str, str]:
    return {k: request.form.get(k, "") for k in vendors.FIELDS if k in request.form}


def _context(**extra):  # noqa: ANN003, ANN202
    return {"kinds": KIND_LABELS, "orgs": kpi.organisations_for(current_user), **extra}


@bp.route("/")
@login_required
def index():  # noqa: ANN201
    q, kind = request.args.get("q", ""), request.args.get("kind") or None
    rows = vendors.list_vendors(current_user, q, kind, include_inactive=request.args.get("inactive") == "1")
    return render_template("vendors/index.html", rows=rows, q=q, kind=kind, states=vendors.contract_state,
                           average=vendors.average_score, may_manage=vendors.may_manage(current_user), **_context())


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # noqa: ANN201
    vendors.require_manage(current_user)
    errors: dict = {}
    values = _form_fields()
    if request.method == "POST":
        try:
            vendor = vendors.create_vendor(current_user, values)
            db.session.commit()
            flash(_("Supplier %(code)s registered.", code=vendor.code))
            return redirect(url_for("vendors.show", code=vendor.code))
        except ValidationFailed as exc:
            errors = exc.errors
    return render_template("vendors/form.html", vendor=None, values=values, errors=errors,
                           **_context()), 400 if errors else 200


@bp.route("/<code>")
@login_required
def show(code: str):  # noqa: ANN201
    vendor = vendors.get_vendor(current_user, code)
    errors: dict = {}
    try:
        control = vendors.process_control(current_user, vendor, period=request.args.get("period") or None,
                                          start=request.args.get("from") or None, end=request.args.get("to") or None)
    except ValidationFailed as exc:
        errors, control = exc.errors, vendors.process_control(current_user, vendor)
    return _page(vendor, control, errors=errors), 400 if errors else 200


def _page(vendor, control: dict, **extra):  # noqa: ANN001, ANN003, ANN202
    """The supplier page: its record, process control, staff, assets and evaluations (with the form's state)."""
    return render_template("vendors/show.html", vendor=vendor, control=control,
                           supplied=vendors.supplied_assets(current_user, vendor),
                           state=vendors.contract_state(vendor), average=vendors.average_score(vendor),
                           may_manage=vendors.may_manage(current_user, vendor), scores=vendors.SCORES,
                           **{"errors": {}, "eval_errors": {}, "eval_values": {}, **extra}, **_context())


@bp.route("/<code>/edit", methods=["GET", "POST"])
@login_required
def edit(code: str):  # noqa: ANN201
    vendor = vendors.get_vendor(current_user, code)
    vendors.require_manage(current_user, vendor)
    errors: dict = {}
    values = _form_fields() if request.method == "POST" else {
        k: (getattr(vendor, k) or "") for k in vendors.FIELDS if k not in ("code", "organisation")}
    if request.method == "POST":
        try:
            changes = vendors.update_vendor(current_user, vendor, values)
            db.session.commit()
            flash(_("Supplier saved (%(n)s changed).", n=len(changes)))
            return redirect(url_for("vendors.show", code=vendor.code))
        except ValidationFailed as exc:
            errors = exc.errors
    values.setdefault("organisation", vendor.organisation.code)
    return render_template("vendors/form.html", vendor=vendor, values=values, errors=errors,
                           **_context()), 400 if errors else 200


@bp.route("/<code>/active", methods=["POST"])
@login_required
def active(code: str):  # noqa: ANN201
    vendor = vendors.get_vendor(current_user, code)
    vendors.set_active(current_user, vendor, request.form.get("active") == "1")
    db.session.commit()
    return redirect(url_for("vendors.show", code=code))


@bp.route("/<code>/staff", methods=["POST"])
@login_required
def add_staff(code: str):  # noqa: ANN201
    vendor = vendors.get_vendor(current_user, code)
    try:
        vendors.add_staff(current_user, vendor, request.form.get("username", ""))
        db.session.commit()
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        flash(exc.message + " " + " ".join(m for ms in getattr(exc, "errors", {}).values() for m in ms), "error")
    return redirect(url_for("vendors.show", code=code))


@bp.route("/<code>/staff/<username>/remove", methods=["POST"])
@login_required
def remove_staff(code: str, username: str):  # noqa: ANN201
    vendor = vendors.get_vendor(current_user, code)
    vendors.remove_staff(current_user, vendor, username)
    db.session.commit()
    return redirect(url_for("vendors.show", code=code))


@bp.route("/<code>/evaluations", methods=["POST"])
@login_required
def evaluate(code: str):  # noqa: ANN201
    vendor = vendors.get_vendor(current_user, code)
    values = {k: request.form.get(k, "") for k in ("period", "comment", *vendors.SCORES)}
    try:
        vendors.evaluate(current_user, vendor, values["period"], values, values["comment"])
        db.session.commit()
        flash(_("Evaluation recorded."))
        return redirect(url_for("vendors.show", code=code))
    except (ValidationFailed, Conflict) as exc:
        db.session.rollback()
        errors = getattr(exc, "errors", {}) or {"period": [exc.message]}
        status = exc.status
    vendor = vendors.get_vendor(current_user, code)  # read again after the rollback
    return _page(vendor, vendors.process_control(current_user, vendor), eval_errors=errors,
                 eval_values=values), status
