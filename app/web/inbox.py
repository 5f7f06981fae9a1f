"""The inbox: my tasks and my groups' tasks, claim/unclaim, the task page with its form."""
from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..extensions import db
from ..services import cases, forms, instances, knowledge
from ..services.definitions import deployed_processes
from ..services.errors import ServiceError, ValidationFailed
from ..services.incident import configuration_items

bp = Blueprint("inbox", __name__)
PAGE_SIZE = 50


@bp.route("/")
@login_required
def index():  # noqa: ANN201
    flt = instances.InboxFilter(
        scope=request.args.get("scope", "all"),
        process_id=request.args.get("process") or None,
        priority=request.args.get("priority") or None,
        state=request.args.get("state", "ready"),
    )
    page = max(request.args.get("page", 1, type=int), 1)  # not a number: the first page
    query = instances.inbox_query(current_user, flt)
    tasks = db.paginate(query, page=page, per_page=PAGE_SIZE, error_out=False)
    counts = instances.inbox_counts(current_user)
    return render_template("inbox/index.html", tasks=tasks, flt=flt, counts=counts, processes=deployed_processes())


@bp.route("/tasks/<int:task_id>", methods=["GET", "POST"])
@login_required
def task(task_id: int):  # noqa: ANN201
    human = instances.get_task(task_id, current_user)
    schema = instances.task_form(human) or {"type": "object", "properties": {}}
    may_work = instances.can_complete(current_user, human)
    values = instances.task_data(human) if human.state == "ready" else {}
    errors: dict = {}
    status = 200
    if request.method == "POST":
        submitted = forms.coerce_post(schema, request.form)
        try:
            instances.complete_task(task_id, current_user, submitted)
            db.session.commit()
            flash(_("Task completed."), "success")
            return redirect(url_for("inbox.index"))
        except ValidationFailed as exc:
            db.session.rollback()
            errors, status = exc.errors, 400
            # Redraw exactly what was posted: a field the user emptied must come back empty.
            values = {**values, **dict.fromkeys(forms.field_order(schema)), **submitted}
            flash(exc.message, "error")
        except ServiceError:
            db.session.rollback()
            raise
    hits = []
    meta = None
    compiled_meta = instances.compiled_for(human.instance.version).user_tasks.get(human.spec_id)
    if compiled_meta is not None:
        meta = compiled_meta
        if compiled_meta.properties.get("knowledgeLookup") == "true":
            hits = knowledge.search(request.args.get("q") or values.get("symptoms", ""))
    # What the requester and colleagues added since the case started, read before the step is done.
    notes = cases.notes(human.instance, current_user)
    return render_template(
        "inbox/task.html", task=human, schema=schema, values=values, errors=errors, may_work=may_work,
        meta=meta, hits=hits, cis=configuration_items(current_user), q=request.args.get("q", ""),
        notes=notes, files=cases.attachments_of(human.instance, current_user) if notes else {},
    ), status


@bp.route("/tasks/<int:task_id>/claim", methods=["POST"])
@login_required
def claim(task_id: int):  # noqa: ANN201
    instances.claim_task(task_id, current_user)
    db.session.commit()
    flash(_("Task claimed."), "success")
    return redirect(request.form.get("next") or url_for("inbox.task", task_id=task_id))


@bp.route("/tasks/<int:task_id>/unclaim", methods=["POST"])
@login_required
def unclaim(task_id: int):  # noqa: ANN201
    instances.unclaim_task(task_id, current_user)
    db.session.commit()
    flash(_("Task released to the group."), "success")
    return redirect(url_for("inbox.index"))
