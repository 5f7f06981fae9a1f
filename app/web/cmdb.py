"""CMDB pages: list, CI page (attributes, relations, incidents, cases, history, impact, alerts), graph,
create/edit, relations, baselines, import/export, observed-configuration check."""
from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..i18n import ui_language
from ..models import Asset, CIRelation, Organisation
from ..services import cmdb, cmdb_quality, monitoring
from ..services.errors import ServiceError, ValidationFailed
from ..services.forms import localized

bp = Blueprint("cmdb", __name__, url_prefix="/cmdb")


def _orgs() -> list[Organisation]:
    ids = cmdb.org_subtree(current_user.organisation_id)
    return list(db.session.scalars(select(Organisation).where(Organisation.id.in_(ids)).order_by(Organisation.id)))


@bp.route("")
@login_required
def index():  # noqa: ANN201
    q = request.args.get("q", "")
    ci_type = request.args.get("ci_type") or None
    status = request.args.get("status") or None
    cis = cmdb.list_cis(current_user, q, ci_type, status)
    return render_template("cmdb/index.html", cis=cis, q=q, ci_type=ci_type, status=status, classes=cmdb.CLASSES,
                           statuses=cmdb.STATUSES, may_write=cmdb.can_write(current_user),
                           counts=cmdb.count_by_type(current_user))


@bp.route("/quality")
@login_required
def quality():  # noqa: ANN201
    """What a configuration audit starts from: duplicates, orphans, dependencies on retired CIs, stale records."""
    days = request.args.get("stale_days", "365")
    errors: dict = {}
    try:
        found = cmdb_quality.findings(current_user, days)
    except ValidationFailed as exc:
        errors, days, found = exc.errors, "365", cmdb_quality.findings(current_user)
    return render_template("cmdb/quality.html", found=found, days=days, errors=errors), 400 if errors else 200


def _attrs_from_form(ci_type: str) -> dict:
    props = cmdb.class_schema(ci_type)["properties"]
    return {name: cmdb.coerce_attribute(ci_type, name, request.form.get(f"attr_{name}", ""))
            for name in props if request.form.get(f"attr_{name}", "") != ""}


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new():  # noqa: ANN201
    if not cmdb.can_write(current_user):
        abort(403)
    ci_type = request.values.get("ci_type") or "server"
    if ci_type not in cmdb.CLASSES:
        abort(404)
    errors: dict = {}
    status = 200
    if request.method == "POST":
        try:
            org_id = request.form.get("organisation_id", "")
            org = db.session.get(Organisation, int(org_id)) if org_id.isdigit() else (
                None if org_id else current_user.organisation)
            if org is None:
                raise ValidationFailed(_("Organisation %(id)s does not exist.", id=org_id),
                                       {"organisation_id": [_("Organisation %(id)s does not exist.", id=org_id)]})
            ci = cmdb.create_ci(current_user, ci_type=ci_type, name=request.form.get("name", ""), organisation=org,
                                attributes=_attrs_from_form(ci_type), status=request.form.get("status", "planned"),
                                controlled=request.form.get("controlled", "yes") == "yes")
            db.session.commit()
            flash(_("Configuration item %(code)s registered.", code=ci.code), "success")
            return redirect(url_for("cmdb.show", code=ci.code))
        except ValidationFailed as exc:
            db.session.rollback()
            errors, status = exc.errors, 400
            flash(exc.message, "error")
    schema = localized(cmdb.class_schema(ci_type), ui_language())
    return render_template("cmdb/new.html", ci_type=ci_type, classes=cmdb.CLASSES, errors=errors, schema=schema,
                           statuses=cmdb.STATUSES, orgs=_orgs(), values=request.form), status


def _impact_offset() -> int:
    return max(request.args.get("impact_offset", 0, type=int) or 0, 0)


@bp.route("/<code>")
@login_required
def show(code: str):  # noqa: ANN201
    ci = cmdb.get_ci(current_user, code)
    return render_template(
        "cmdb/show.html", ci=ci,
        schema=localized(cmdb.class_schema(ci.ci_type), ui_language()) if ci.ci_type in cmdb.CLASSES else {
            "properties": {}},
        relations=cmdb.relations_of(ci), incidents=cmdb.linked_incidents(ci), cases=cmdb.linked_cases(ci),
        history=cmdb.history(ci), impact=cmdb.impact(current_user, ci, offset=_impact_offset()),
        alerts=monitoring.recent_alerts(ci, 10),
        may_write=cmdb.can_write(current_user), rel_types=cmdb.RELATION_TYPES, statuses=cmdb.STATUSES,
        transitions=cmdb.TRANSITIONS, assets=db.session.scalars(select(Asset).where(Asset.ci_id == ci.id)).all())


@bp.route("/<code>/edit", methods=["POST"])
@login_required
def edit(code: str):  # noqa: ANN201
    ci = cmdb.get_ci(current_user, code)
    changes = {"name": request.form.get("name", ci.name), "status": request.form.get("status", ci.status)}
    props = cmdb.class_schema(ci.ci_type)["properties"]
    changes.update({n: request.form.get(f"attr_{n}", "") for n in props if f"attr_{n}" in request.form})
    _attempt(lambda: cmdb.update_ci(current_user, ci, changes), _("Configuration item updated."))
    return redirect(url_for("cmdb.show", code=code))


@bp.route("/<code>/relations", methods=["POST"])
@login_required
def add_relation(code: str):  # noqa: ANN201
    ci = cmdb.get_ci(current_user, code)
    def add() -> None:
        target = cmdb.get_ci(current_user, request.form.get("target", "").strip())
        cmdb.add_relation(current_user, ci, request.form.get("rel_type", ""), target)

    _attempt(add, _("Relation added."))
    return redirect(url_for("cmdb.show", code=code))


@bp.route("/relations/<int:relation_id>/delete", methods=["POST"])
@login_required
def delete_relation(relation_id: int):  # noqa: ANN201
    rel = db.session.get(CIRelation, relation_id) or abort(404)
    code = cmdb.get_ci(current_user, rel.source.code).code
    cmdb.remove_relation(current_user, rel)
    db.session.commit()
    flash(_("Relation removed."), "success")
    return redirect(url_for("cmdb.show", code=code))


@bp.route("/<code>/graph")
@login_required
def graph(code: str):  # noqa: ANN201
    ci = cmdb.get_ci(current_user, code)
    return render_template("cmdb/graph.html", ci=ci, impact=cmdb.impact(current_user, ci, offset=_impact_offset()))


@bp.route("/<code>/graph.json")
@login_required
def graph_json(code: str):  # noqa: ANN201
    ci = cmdb.get_ci(current_user, code)
    depth = min(max(request.args.get("depth", 2, type=int), 1), 4)
    data = cmdb.neighbourhood(current_user, ci, depth)
    # The graph's nodes that are affected (exact, whatever the size of the whole affected set).
    result = cmdb.impact(current_user, ci, limit=0)
    data["impacted"] = cmdb.impacted_among(result, (n["data"]["id"] for n in data["nodes"]))
    data["impacted_total"] = result.total
    return jsonify(data)


@bp.route("/graph.js")
def graph_js():  # noqa: ANN201
    return Response(render_template("cmdb/graph.js"), mimetype="text/javascript")


@bp.route("/<code>/monitoring")
@login_required
def alerts(code: str):  # noqa: ANN201
    ci = cmdb.get_ci(current_user, code)
    return render_template("cmdb/monitoring.html", ci=ci, alerts=monitoring.recent_alerts(ci, 200))


@bp.route("/export.<fmt>")
@login_required
def export(fmt: str):  # noqa: ANN201
    if fmt == "csv":
        return Response(cmdb.export_csv(current_user), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=cmdb.csv"})
    if fmt == "xlsx":
        return Response(cmdb.export_xlsx(current_user),
                        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": "attachment; filename=cmdb.xlsx"})
    abort(404)


def _upload() -> tuple[str, bytes]:
    file = request.files.get("file")
    if file is None or not file.filename:
        raise ValidationFailed(_("Choose a file."), {"file": [_("Required.")]})
    return file.filename, file.read()


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_cis():  # noqa: ANN201
    if not cmdb.can_write(current_user):
        abort(403)
    result = None
    if request.method == "POST":
        try:
            name, content = _upload()
            records = cmdb.read_xlsx(content) if name.lower().endswith(".xlsx") else cmdb.parse_records(content, "csv")
            result = cmdb.import_cis(current_user, records)
            db.session.commit()
            flash(_("Import finished: %(c)s created, %(u)s updated, %(e)s refused.", c=len(result["created"]),
                    u=len(result["updated"]), e=len(result["errors"])), "success")
        except ValidationFailed as exc:
            db.session.rollback()
            flash(exc.message, "error")
    return render_template("cmdb/import.html", result=result)


@bp.route("/observed", methods=["GET", "POST"])
@login_required
def observed():  # noqa: ANN201
    if not cmdb.can_write(current_user):
        abort(403)
    result = None
    if request.method == "POST":
        try:
            name, content = _upload()
            records = cmdb.parse_records(content, "json" if name.lower().endswith(".json") else "csv")
            result = cmdb.import_observed(current_user, records, source=name)
            db.session.commit()
            if result["incident"]:
                flash(_("Drift found: incident %(key)s raised.", key=result["incident"]["business_key"]), "error")
            else:
                flash(_("The observed configuration matches the CMDB."), "success")
        except ValidationFailed as exc:
            db.session.rollback()
            flash(exc.message, "error")
    return render_template("cmdb/observed.html", result=result)


@bp.route("/baselines", methods=["GET", "POST"])
@login_required
def baselines():  # noqa: ANN201
    if request.method == "POST":
        codes = [c.strip() for c in request.form.get("codes", "").replace(",", " ").split() if c.strip()]
        base = cmdb.create_baseline(current_user, request.form.get("name", ""), codes or None,
                                    request.form.get("description", ""))
        db.session.commit()
        flash(_("Baseline %(name)s saved.", name=base.name), "success")
        return redirect(url_for("cmdb.baseline", baseline_id=base.id))
    return render_template("cmdb/baselines.html", baselines=cmdb.list_baselines(current_user),
                           may_write=cmdb.can_write(current_user))


@bp.route("/baselines/<int:baseline_id>")
@login_required
def baseline(baseline_id: int):  # noqa: ANN201
    base = cmdb.get_baseline(current_user, baseline_id)
    other_id = request.args.get("with", type=int)
    if other_id:
        other = cmdb.get_baseline(current_user, other_id)
        diff, against = cmdb.compare(base.snapshot, other.snapshot), other.name
    else:
        current = cmdb.current_of(base, current_user)
        diff, against = cmdb.compare(base.snapshot, current), _("current state")
    return render_template("cmdb/baseline.html", base=base, diff=diff, against=against,
                           baselines=cmdb.list_baselines(current_user))


def _attempt(action: Callable[[], object], done: str) -> None:
    """Run one service call and commit, or roll back and show its refusal; a 403 stays a 403."""
    try:
        action()
        db.session.commit()
        flash(done, "success")
    except ServiceError as exc:
        db.session.rollback()
        if exc.status == 403:
            raise
        flash(exc.message, "error")
