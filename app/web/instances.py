"""Instance page: record fields, status, current tasks, history."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user, login_required
from sqlalchemy import select

from ..extensions import db
from ..i18n import ui_language
from ..models import Event, HumanTask
from ..services import incident, instances
from ..services.definitions import compiled_for
from ..services.forms import choice_labels
from ..services.messaging import links_of

bp = Blueprint("instances", __name__, url_prefix="/instances")


@bp.route("/<int:instance_id>")
@login_required
def show(instance_id: int):  # noqa: ANN201
    instance = instances.get_instance(instance_id, current_user)
    tasks = db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id)
                               .order_by(HumanTask.id)).all()
    events = db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq)).all()
    record = incident.incident_of(instance)
    labels = choice_labels(compiled_for(instance.version).forms, ui_language())
    return render_template("instances/show.html", instance=instance, tasks=tasks, events=events, record=record,
                           labels=labels, links=links_of(instance))
