"""Service quality indicators (spec 7.2) and process statistics: the report, its download, the targets form."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from ..extensions import db
from ..i18n import ui_language
from ..services import kpi, tabular
from ..services.definitions import compiled_for, deployed_processes, latest_version
from ..services.errors import ValidationFailed
from ..services.forms import choice_labels
from .filters import process_name

bp = Blueprint("kpi", __name__, url_prefix="/kpi")
CHANGE_CATEGORIES = {"minor": _l("Minor change"), "standard": _l("Standard change"), "major": _l("Major change"),
                     "emergency": _l("Emergency change"), "unclassified": _l("Not yet classified")}
UNIT_SUFFIX = {"percent": "%", "minutes": _l("min"), "score": "/ 5", "count": ""}


def fmt_value(value: float | None, unit: str) -> str:
    """An indicator's value as people read it; no value (nothing to count) as a dash."""
    if value is None:
        return "—"
    whole = unit == "count" or (float(value).is_integer() and unit != "score")
    text = str(int(value)) if whole else f"{value:.1f}"
    suffix = str(UNIT_SUFFIX[unit])
    return f"{text} {suffix}".strip()


def _query() -> dict[str, Any]:
    args = request.args
    return {"organisation": args.get("organisation") or None, "period": args.get("period") or None,
            "start": args.get("from") or None, "end": args.get("to") or None,
            "include_below": args.get("below", "1") != "0"}


def _labels() -> dict[str, dict[str, str]]:
    version = latest_version("incident")
    incident_labels = choice_labels(compiled_for(version).forms, ui_language()) if version is not None else {}
    return {"category": incident_labels.get("category", {}),
            "change_category": {k: str(v) for k, v in CHANGE_CATEGORIES.items()},
            "process": {p.process_id: process_name(p) for p in deployed_processes()}}


@bp.route("/")
@login_required
def index():  # noqa: ANN201
    query = _query()
    errors: dict[str, list[str]] = {}
    try:
        report = kpi.report(current_user, **query)
    except ValidationFailed as exc:  # a bad period: the form again, with the message beside it
        errors = exc.errors
        report = kpi.report(current_user, query["organisation"], include_below=query["include_below"])
    args = {k: v for k, v in request.args.items() if v and k != "lang"}
    return render_template("kpi/index.html", report=report, errors=errors, args=args, query=query,
                           started_cases=_started_cases_query(report),
                           orgs=kpi.organisations_for(current_user), sections=kpi.SECTIONS, labels=_labels(),
                           fmt_value=fmt_value, may_edit=kpi.may_edit_targets(current_user)), 400 if errors else 200


def _started_cases_query(report: kpi.Report) -> dict[str, str] | None:
    """The case list's filters that show exactly the cases a process row counts as started, or None when the
    case list cannot say the same (it filters by one organisation, or by everything the user sees)."""
    own = report.organisation.id == current_user.organisation_id and not current_user.in_group(
        "auditor", "administrator")
    if report.include_below and not own:
        return None
    last_day = report.period.end.astimezone(report.period.start.tzinfo) - timedelta(days=1)
    out = {"created_from": report.period.start.date().isoformat(), "created_to": last_day.date().isoformat()}
    if not report.include_below:
        out["organisation"] = report.organisation.code
    return out


@bp.route("/trend")
@login_required
def trend():  # noqa: ANN201
    """Each indicator month by month (the last 12 by default), judged against today's targets."""
    result = kpi.trend(current_user, request.args.get("organisation") or None,
                       months=request.args.get("months", "12"), include_below=request.args.get("below", "1") != "0")
    return render_template("kpi/trend.html", trend=result, sections=kpi.SECTIONS, fmt_value=fmt_value,
                           orgs=kpi.organisations_for(current_user), months=request.args.get("months", "12"))


@bp.route("/export.<fmt>")
@login_required
def export(fmt: str):  # noqa: ANN201
    """The indicators of the report as a spreadsheet (spec 6.2: customisable management reports)."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    report = kpi.report(current_user, **_query())
    header = [_("Organisation"), _("Period"), _("Category"), _("Indicator"), _("Value"), _("Unit"), _("Target"),
              _("Met"), _("Counted"), _("Out of"), _("How it is counted")]
    units = {"percent": "%", "minutes": _("minutes"), "score": "1–5", "count": _("count")}
    met = {True: _("yes"), False: _("no"), None: ""}
    rows = [[report.organisation.name, report.period.label, str(kpi.SECTIONS[f.indicator.section]),
             str(f.indicator.name), f.value if f.value is not None else "", units[f.indicator.unit],
             f.target if f.target is not None else "", met[f.met],
             f.numerator if f.numerator is not None else "", f.denominator if f.denominator is not None else "",
             str(f.indicator.basis)] for f in report.figures]
    name = f"indicators-{report.organisation.code}-{report.period.label.replace('..', '_')}"
    if fmt == "csv":
        return Response(tabular.csv_bytes(header, rows), mimetype="text/csv",
                        headers={"Content-Disposition": f"attachment; filename={name}.csv"})
    return Response(tabular.xlsx_bytes("indicators", header, rows),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f"attachment; filename={name}.xlsx"})


@bp.route("/targets", methods=["GET", "POST"])
@login_required
def targets():  # noqa: ANN201
    org = kpi.organisation_for(current_user, request.values.get("organisation") or None)
    errors: dict[str, list[str]] = {}
    posted: dict[str, str] = {}
    if request.method == "POST":
        posted = {ind.code: request.form.get(ind.code, "") for ind in kpi.INDICATORS}
        try:
            changes = kpi.set_targets(org, current_user, posted)
            db.session.commit()
            flash(_("Targets saved (%(n)s changed).", n=len(changes)))
            return redirect(url_for("kpi.targets", organisation=org.code))
        except ValidationFailed as exc:
            errors = exc.errors
    return render_template("kpi/targets.html", organisation=org, indicators=kpi.INDICATORS, sections=kpi.SECTIONS,
                           effective=kpi.targets_for(org), own=kpi.own_targets(org), posted=posted, errors=errors,
                           orgs=kpi.organisations_for(current_user), may_edit=kpi.may_edit_targets(current_user),
                           names={o.code: o.name for o in [org, *org.ancestors()]},
                           fmt_value=fmt_value), 400 if errors else 200
