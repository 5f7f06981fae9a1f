"""Audit pages (auditors and administrators): instance search, replay, verification, re-execution, export;
and the administrators' manual interventions (reassign a task, cancel an instance)."""
from __future__ import annotations

from flask import Blueprint, Response, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..models import HumanTask, Organisation
from ..services import accounts, admin, cases, replay
from ..services.definitions import deployed_processes
from ..services.errors import ValidationFailed
from .filters import step_name

bp = Blueprint("audit", __name__, url_prefix="/audit")
admin_bp = Blueprint("admin", __name__)
PAGE_SIZE = 50
STATUSES = cases.STATUSES
# Labels of the event types the interventions add, and of the replay page's own words.
EXTRA_LABELS = {"task_reassigned": _l("Task reassigned"), "instance_cancelled": _l("Case cancelled"),
                "_step": _l("Step"), "_system": _l("system (engine)")}


def _labels() -> dict[str, str]:
    from .filters import EVENT_LABELS

    return {k: str(v) for k, v in {**EVENT_LABELS, **EXTRA_LABELS}.items()}


def _page_arg() -> int:
    return max(request.args.get("page", 1, type=int), 1)  # not a number: the first page


@bp.route("/instances")
@login_required
def search():  # noqa: ANN201
    replay.require_auditor(current_user)
    errors: dict = {}
    try:
        flt = replay.InstanceFilter.from_args(request.args)
    except ValidationFailed as exc:
        errors = exc.errors
        flt = replay.InstanceFilter()
    page = _page_arg()
    rows, has_next = replay.search(current_user, flt, page, PAGE_SIZE)
    replay.record_view(current_user, "audit.search", filters={**flt.as_dict(), "page": page})
    db.session.commit()
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.id)).all()
    args = request.args.to_dict()
    args.pop("page", None)
    return render_template("audit/search.html", rows=rows, has_next=has_next, page=page, flt=flt, errors=errors,
                           processes=deployed_processes(), orgs=orgs, statuses=STATUSES, priorities=cases.PRIORITIES,
                           args=args)


@bp.route("/views")
@login_required
def views():  # noqa: ANN201
    """Who looked at what in the audit views (the log itself is not logged again)."""
    page = _page_arg()
    username = (request.args.get("user") or "").strip() or None
    rows, has_next = replay.audit_views(current_user, username, page, PAGE_SIZE)
    return render_template("audit/views.html", rows=rows, has_next=has_next, page=page, username=username or "")


@bp.route("/security")
@login_required
def security():  # noqa: ANN201
    """Logins, failed logins, locks and password changes (the security log)."""
    page = _page_arg()
    username = (request.args.get("user") or "").strip()
    kind = (request.args.get("type") or "").strip()
    rows, has_next = accounts.security_log(current_user, username=username, kind=kind, page=page, page_size=PAGE_SIZE)
    return render_template("audit/security.html", rows=rows, has_next=has_next, page=page, username=username,
                           kind=kind, kinds=accounts.EVENT_TYPES)


def _show(instance_id: int, result: dict | None = None, status: int = 200):  # noqa: ANN202
    instance = replay.get_instance(instance_id, current_user)
    open_tasks = []
    if current_user.in_group("administrator"):
        open_tasks = db.session.scalars(select(HumanTask).where(
            HumanTask.instance_id == instance.id, HumanTask.state == "ready").order_by(HumanTask.id)).all()
    return render_template("audit/replay.html", instance=instance, result=result, open_tasks=open_tasks,
                           at=request.args.get("at", ""), labels=_labels()), status


@bp.route("/instances/<int:instance_id>")
@login_required
def show(instance_id: int):  # noqa: ANN201
    instance = replay.get_instance(instance_id, current_user)
    replay.record_view(current_user, "audit.show", instance, {"at": request.args.get("at")})
    db.session.commit()
    return _show(instance.id)


@bp.route("/instances/<int:instance_id>/replay.json")
@login_required
def replay_json(instance_id: int):  # noqa: ANN201
    instance = replay.get_instance(instance_id, current_user)
    data = replay.replay_data(instance)
    for step in data["steps"]:  # names in the UI language, as on the page around the timeline
        step["name"] = step_name(instance.version, step.get("element"), step.get("name")) or step.get("name")
    data["selected"] = replay.step_at(data["steps"], request.args.get("at"))
    replay.record_view(current_user, "audit.replay_json", instance)
    db.session.commit()
    return jsonify(data)


@bp.route("/instances/<int:instance_id>/verify", methods=["POST"])
@login_required
def verify(instance_id: int):  # noqa: ANN201
    instance = replay.get_instance(instance_id, current_user)
    result = {"kind": "verify", **replay.verify(instance)}
    replay.record_view(current_user, "audit.verify", instance)
    db.session.commit()
    return _show(instance.id, result)


@bp.route("/instances/<int:instance_id>/reexecute", methods=["POST"])
@login_required
def reexecute(instance_id: int):  # noqa: ANN201
    instance = replay.get_instance(instance_id, current_user)
    result = {"kind": "reexecute", **replay.reexecute(instance).as_dict()}
    replay.record_view(current_user, "audit.reexecute", instance)
    db.session.commit()
    return _show(instance.id, result)


def _zip(body: bytes, name: str) -> Response:
    return Response(body, mimetype="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.route("/instances/<int:instance_id>/export.zip")
@login_required
def export_one(instance_id: int):  # noqa: ANN201
    instance = replay.get_instance(instance_id, current_user)
    body = replay.export_package([instance], {"instance": instance.business_key})
    replay.record_view(current_user, "audit.export", instance)
    db.session.commit()
    return _zip(body, f"audit-{instance.business_key}.zip")


@bp.route("/export.zip")
@login_required
def export_set():  # noqa: ANN201
    flt = replay.InstanceFilter.from_args(request.args)
    rows = replay.export_instances(current_user, flt)
    body = replay.export_package(rows, flt.as_dict())
    replay.record_view(current_user, "audit.export", filters=flt.as_dict())
    db.session.commit()
    return _zip(body, "audit-package.zip")


# --- administrators' interventions ------------------------------------------------------------------

@admin_bp.route("/tasks/<int:task_id>/reassign", methods=["POST"])
@login_required
def reassign(task_id: int):  # noqa: ANN201
    task = admin.reassign_task(task_id, current_user, request.form.get("assignee", ""), request.form.get("reason"))
    db.session.commit()
    flash(_("Task reassigned."), "success")
    return redirect(url_for("audit.show", instance_id=task.instance_id))


@admin_bp.route("/instances/<int:instance_id>/cancel", methods=["POST"])
@login_required
def cancel(instance_id: int):  # noqa: ANN201
    instance = admin.cancel_instance(instance_id, current_user, request.form.get("reason"))
    db.session.commit()
    flash(_("Case cancelled."), "success")
    return redirect(url_for("audit.show", instance_id=instance.id))
