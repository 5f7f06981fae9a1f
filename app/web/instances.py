"""Cases: the search everyone has, and the case page (record fields, status, current tasks, notes, history)."""
from __future__ import annotations

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from ..downloads import stored_file
from ..extensions import db
from ..i18n import ui_language
from ..models import HumanTask, ProcessInstance
from ..services import cases, incident, instances, tabular
from ..services.definitions import compiled_for, deployed_processes
from ..services.errors import ValidationFailed
from ..services.forms import choice_labels
from ..services.messaging import links_of
from .filters import INSTANCE_STATES, fmt_datetime, group_name, process_name, step_name
from .uploads import posted_files

bp = Blueprint("instances", __name__, url_prefix="/instances")
PAGE_SIZE = 50


def _scope() -> str:
    """The list asked for: staff choose (all they may see by default); everyone else has their own requests."""
    if not current_user.memberships:
        return "mine"
    return request.args.get("scope") if request.args.get("scope") in cases.SCOPES else "visible"


@bp.route("")
@login_required
def index():  # noqa: ANN201
    errors: dict = {}
    try:
        flt = cases.InstanceFilter.from_args(request.args)
    except ValidationFailed as exc:
        errors, flt = exc.errors, cases.InstanceFilter()
    page = max(request.args.get("page", 1, type=int), 1)  # not a number: the first page
    rows, has_next = cases.search(current_user, flt, _scope(), page, PAGE_SIZE)
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("instances/index.html", rows=rows, has_next=has_next, page=page, flt=flt, scope=_scope(),
                           staff=bool(current_user.memberships), errors=errors, args=args,
                           current=cases.open_tasks_of(rows),
                           processes=deployed_processes(), orgs=cases.organisations_for(current_user),
                           statuses=cases.STATUSES, priorities=cases.PRIORITIES), 400 if errors else 200


@bp.route("/export.<fmt>")
@login_required
def export(fmt: str):  # noqa: ANN201
    """The search's matching cases as a spreadsheet (spec 6.2: queries and custom reports)."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    flt = cases.InstanceFilter.from_args(request.args)
    rows = cases.export(current_user, flt, _scope())
    current = cases.open_tasks_of(rows)
    header = [_("Case"), _("Process"), _("Title"), _("Priority"), _("Status"), _("Where it is now"),
              _("Organisation"), _("Created"), _("Completed")]
    table = [_export_row(i, current[i.id]) for i in rows]
    if fmt == "csv":
        return Response(tabular.csv_bytes(header, table), mimetype="text/csv",
                        headers={"Content-Disposition": "attachment; filename=cases.csv"})
    return Response(tabular.xlsx_bytes("cases", header, table),
                    mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": "attachment; filename=cases.xlsx"})


def _export_row(instance: ProcessInstance, tasks: list[HumanTask]) -> list[str]:
    where = "; ".join(f"{step_name(instance.version, t.spec_id, t.name)} "
                      f"({t.assignee.display_name if t.assignee else group_name(t.candidate_group)})" for t in tasks)
    return [instance.business_key, process_name(instance.version), instance.title, instance.priority or "",
            str(INSTANCE_STATES.get(instance.status, instance.status)), where, instance.organisation.name,
            fmt_datetime(instance.created_at), fmt_datetime(instance.completed_at)]


@bp.route("/<int:instance_id>")
@login_required
def show(instance_id: int):  # noqa: ANN201
    return _case_page(instances.get_instance(instance_id, current_user))


def _case_page(instance: ProcessInstance, note: str = "", note_errors: dict | None = None,
               status: int = 200) -> tuple[str, int]:
    tasks = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)
                               .order_by(HumanTask.id)).all()
    events = cases.readable_events(instance, current_user)
    record = incident.incident_of(instance)
    labels = choice_labels(compiled_for(instance.version).forms, ui_language())
    return render_template("instances/show.html", instance=instance, tasks=tasks, events=events, record=record,
                           labels=labels, links=links_of(instance),
                           notes=[e for e in events if e.type == cases.NOTE_EVENT],
                           files=cases.attachments_of(instance, current_user), accept=",".join(cases.ATTACHMENT_TYPES),
                           max_files=cases.MAX_FILES_PER_NOTE, may_withdraw=cases.may_withdraw(current_user, instance),
                           may_note=cases.may_add_note(current_user, instance), staff=cases.is_staff(current_user),
                           note=note, note_errors=note_errors or {}, note_max=cases.NOTE_MAX_LENGTH), status


@bp.route("/<int:instance_id>/notes", methods=["POST"])
@login_required
def add_note(instance_id: int):  # noqa: ANN201
    text = request.form.get("text", "")
    try:
        cases.add_note(instance_id, current_user, text, internal=request.form.get("internal") == "1",
                       files=posted_files())
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
        # Redraw the page with what was typed: a rejected note is not lost.
        return _case_page(instances.get_instance(instance_id, current_user), text, exc.errors, 400)
    db.session.commit()
    flash(_("Note added."), "success")
    return redirect(url_for("instances.show", instance_id=instance_id, _anchor="notes-h"))


@bp.route("/<int:instance_id>/attachments/<int:attachment_id>")
@login_required
def attachment(instance_id: int, attachment_id: int):  # noqa: ANN201
    att = cases.get_attachment(instance_id, attachment_id, current_user)
    return stored_file(att.data, att.filename, att.content_type, inline=att.content_type in cases.IMAGE_TYPES)


@bp.route("/<int:instance_id>/withdraw", methods=["POST"])
@login_required
def withdraw(instance_id: int):  # noqa: ANN201
    try:
        cases.withdraw(instance_id, current_user, request.form.get("reason", ""))
    except ValidationFailed as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _case_page(instances.get_instance(instance_id, current_user), status=400)
    db.session.commit()
    flash(_("Your request has been withdrawn."), "success")
    return redirect(url_for("instances.show", instance_id=instance_id))
