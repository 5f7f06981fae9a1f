"""Shared API pieces: token authentication, error bodies, schemas."""
from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import Any

from flask import g, request
from flask_babel import gettext as _
from marshmallow import INCLUDE, Schema, fields, validate

from ..models import ProcessInstance, User
from ..routing import MAX_INTEGER
from ..services.errors import ServiceError, ValidationFailed
from ..services.identity import user_from_token
from ..services.instances import open_tasks
from ..services.messaging import links_of

SECURITY = [{"bearerAuth": []}]


def _query_params(*rows: tuple[str, str, str]) -> list[dict[str, Any]]:
    return [{"in": "query", "name": name, "schema": {"type": kind}, "required": False, "description": text}
            for name, kind, text in rows]


# The case search's filters (services.cases.InstanceFilter.from_args), shared by the case list and the audit API.
FILTER_PARAMS = _query_params(
    ("business_key", "string", "business key prefix"), ("process", "string", "process id"),
    ("version", "integer", "version number"), ("organisation", "string", "organisation code"),
    ("status", "string", "running | completed | cancelled"), ("priority", "string", "P1 | P2 | P3 | P4"),
    ("actor", "string", "username of any event"),
    ("created_from", "string", "ISO date/time"), ("created_to", "string", "ISO date/time"),
    ("q", "string", "text in the title or the incident record"),
)
PAGE_PARAMS = _query_params(("page", "integer", "page, from 1"), ("per_page", "integer", "at most 200"))


def int_arg(name: str, default: int) -> int:
    """An integer query argument (not a number: the default; beyond the database's integers: refused)."""
    value = request.args.get(name, default, type=int)
    if abs(value) > MAX_INTEGER:  # refused alike on SQLite and PostgreSQL (which would just find no row)
        raise ValidationFailed(_("A number in the request is too large."), {name: [_("Too large.")]})
    return value


class ApiError(ServiceError):
    status = 401
    code = "unauthorized"


def token_required(view: Callable) -> Callable:
    """Resolve `Authorization: Bearer <token>` to g.api_user or answer 401."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        user = user_from_token(token.strip()) if scheme.lower() == "bearer" and token else None
        if user is None:
            raise ApiError("a valid bearer token is required")
        g.api_user = user
        return view(*args, **kwargs)

    return wrapper


def api_user() -> User:
    return g.api_user


class ProblemSchema(Schema):
    """The one body of every API error: a machine-readable code, a message, and details where they apply."""

    class Meta:
        unknown = INCLUDE  # a refusal may name more details (documented where an operation answers with them)

    error = fields.String(required=True, metadata={
        "description": "What went wrong, for programs: not_found, forbidden, unauthorized, conflict, "
                       "validation_failed, unprocessable_entity, definition_invalid, process_error, unavailable, ..."})
    message = fields.String(required=True, metadata={"description": "What went wrong, for people"})
    errors = fields.Dict(metadata={
        "description": "Per-field messages: field -> messages (400 validation_failed), or location -> field -> "
                       "messages (422, request arguments that do not match the operation's schema)"})
    issues = fields.List(fields.Dict(), metadata={"description": "422 definition_invalid: each problem found"})
    state = fields.String(metadata={"description": "409 conflict: the state the task or case is in now"})
    element_id = fields.String(allow_none=True, metadata={"description": "422 process_error: the failing element"})


class TaskSchema(Schema):
    id = fields.Integer()
    instance_id = fields.Integer()
    business_key = fields.Function(lambda t: t.instance.business_key)
    process_id = fields.Function(lambda t: t.instance.process_id)
    spec_id = fields.String()
    name = fields.String()
    candidate_group = fields.String(allow_none=True)
    organisation = fields.Function(lambda t: t.organisation.code)
    assignee = fields.Function(lambda t: t.assignee.username if t.assignee else None)
    state = fields.String()
    priority = fields.String(allow_none=True)
    due_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    completed_at = fields.DateTime(allow_none=True)
    completed_by = fields.Function(lambda t: t.completed_by.username if t.completed_by else None)


_TASKS = TaskSchema(many=True)  # schemas are reusable; building one per answer costs more than dumping


class EventSchema(Schema):
    seq = fields.Integer()
    type = fields.String()
    spec_id = fields.String(allow_none=True)
    task_guid = fields.String(allow_none=True)
    actor = fields.Function(lambda e: e.actor.username if e.actor else None)
    organisation_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    data = fields.Dict()
    prev_hash = fields.String()
    hash = fields.String()


def instance_dict(instance: ProcessInstance, record: dict | None = None) -> dict[str, Any]:
    """The instance as the API answers it, with its open tasks and links.

    Write routes build it before they commit: it then reads inside the request's one transaction, instead
    of opening (on SQLite: write-locking) a second one after the commit only to read back what was written.
    """
    return {
        "id": instance.id,
        "business_key": instance.business_key,
        "process_id": instance.process_id,
        "version": instance.version.version,
        "status": instance.status,
        "priority": instance.priority,
        "title": instance.title,
        "organisation": instance.organisation.code,
        "created_at": instance.created_at.isoformat(),
        "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
        "lock_version": instance.lock_version,
        "record": record,
        "open_tasks": _TASKS.dump(open_tasks(instance)),
        "links": links_of(instance),
    }


class AttachmentIn(Schema):
    filename = fields.String(required=True, validate=validate.Length(min=1, max=255))
    content_base64 = fields.String(required=True, metadata={"description": "the file's bytes, base64-encoded"})


def decoded_files(items: list[dict]) -> list[tuple[str, bytes]]:
    """Files sent base64-encoded in JSON as (name, bytes); a bad encoding is a 400 naming the file."""
    out = []
    for i, item in enumerate(items):
        try:
            out.append((item["filename"], base64.b64decode(item["content_base64"], validate=True)))
        except (binascii.Error, ValueError):
            raise ValidationFailed(_("The files were not attached."), {
                "attachments": [_("File %(n)s is not valid base64.", n=i + 1)]}) from None
    return out


@contextmanager
def attachments_named() -> Iterator[None]:
    """A refused file is named under `attachments`, the JSON field it came in (the pages' field is `files`)."""
    try:
        yield
    except ValidationFailed as exc:
        if "files" in exc.errors:
            exc.errors["attachments"] = exc.errors.pop("files")
        raise
