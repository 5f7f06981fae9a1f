"""Tasks for the caller: list, show, claim, unclaim, complete."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from ..extensions import db
from ..services import instances
from .common import SECURITY, ProblemSchema, TaskSchema, api_user, instance_dict, token_required

PREFIX = "/tasks"
blp = Blueprint("api_tasks", __name__, description="Human tasks")


class TaskQuery(Schema):
    scope = fields.String(load_default="all", validate=validate.OneOf(["all", "mine", "groups"]))
    process_id = fields.String(load_default=None)
    priority = fields.String(load_default=None)
    state = fields.String(load_default="ready", validate=validate.OneOf(["ready", "completed", "cancelled"]))
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class CompleteIn(Schema):
    data = fields.Dict(required=True)


class TaskDetail(TaskSchema):
    form = fields.Dict(allow_none=True)
    data = fields.Dict()
    may_complete = fields.Boolean()


# Argument schemas are given as instances throughout the API: given a class, webargs builds a new schema (a deep
# copy of every field) for each request.
@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.arguments(TaskQuery(), location="query")
@blp.response(200, TaskSchema(many=True))
@token_required
def list_tasks(args: dict):  # noqa: ANN201
    """Tasks assigned to the caller or offered to their groups in their organisation."""
    flt = instances.InboxFilter(args["scope"], args["process_id"], args["priority"], args["state"])
    # No total count: clients page with page/per_page, and the count query doubles the list's cost.
    page = db.paginate(instances.inbox_query(api_user(), flt), page=args["page"], per_page=args["per_page"],
                       error_out=False, count=False)
    return page.items


@blp.route("/<int:task_id>", methods=["GET"])
@blp.doc(security=SECURITY, responses={"200": {"description": "The task", "content": {
    "application/json": {"schema": "TaskDetail"}}}})
@blp.response(200)
@token_required
def show(task_id: int):  # noqa: ANN201
    """A task with its form's JSON Schema and current data."""
    user = api_user()
    task = instances.get_task(task_id, user)
    out = TaskSchema().dump(task)
    out["form"] = instances.task_form(task)
    out["data"] = instances.task_data(task) if task.state == "ready" else {}
    out["may_complete"] = instances.can_complete(user, task)
    return out


@blp.route("/<int:task_id>/claim", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, TaskSchema)
@token_required
def claim(task_id: int):  # noqa: ANN201
    """Claim an unassigned task of one's group."""
    task = instances.claim_task(task_id, api_user())
    db.session.commit()
    return task


@blp.route("/<int:task_id>/unclaim", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, TaskSchema)
@token_required
def unclaim(task_id: int):  # noqa: ANN201
    """Release a claimed task back to its group."""
    task = instances.unclaim_task(task_id, api_user())
    db.session.commit()
    return task


@blp.route("/<int:task_id>/complete", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(CompleteIn())
@blp.response(200)
@blp.alt_response(400, schema=ProblemSchema, description="Invalid form data, with per-field errors")
@blp.alt_response(403, schema=ProblemSchema, description="Not allowed to complete this task")
@blp.alt_response(409, schema=ProblemSchema, description="Already completed, or a concurrent change")
@token_required
def complete(body: dict, task_id: int):  # noqa: ANN201
    """Complete a task with form data; answers the instance after the engine moved on."""
    instance = instances.complete_task(task_id, api_user(), body["data"])
    answer = instance_dict(instance)
    db.session.commit()
    return answer
