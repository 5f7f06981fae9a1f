"""Errors services raise; routes and the API map them to HTTP statuses."""
from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """Base class: a refusal with a clear message and an HTTP status."""

    status = 400
    code = "bad_request"

    def __init__(self, message: str, **details: Any):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.details}


class NotFound(ServiceError):
    status = 404
    code = "not_found"


class Forbidden(ServiceError):
    status = 403
    code = "forbidden"


class Conflict(ServiceError):
    status = 409
    code = "conflict"


class ValidationFailed(ServiceError):
    """Submitted data failed validation; `errors` maps field names to messages."""

    status = 400
    code = "validation_failed"

    def __init__(self, message: str, errors: dict[str, list[str]]):
        super().__init__(message, errors=errors)
        self.errors = errors


class DefinitionRejected(ServiceError):
    """A BPMN/DMN/form bundle failed validation; nothing was deployed."""

    status = 422
    code = "definition_invalid"

    def __init__(self, message: str, issues: list[dict[str, Any]]):
        super().__init__(message, issues=issues)
        self.issues = issues


class ProcessFailed(ServiceError):
    """The engine could not carry out the step (a script, condition or decision failed)."""

    status = 422
    code = "process_error"


class Unavailable(ServiceError):
    """The database could not take the request now (busy or unreachable); nothing was saved, retrying may work."""

    status = 503
    code = "unavailable"
