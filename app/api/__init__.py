"""JSON API under /api/v1 (flask-smorest); bearer-token authentication only, so no CSRF surface."""
from __future__ import annotations

from typing import Any

from flask import Flask
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

from .common import ProblemSchema


class ItsmApi(Api):
    """flask-smorest's Api answering its own errors (bad arguments, unknown routes) in the body our services' refusals
    have, and documenting that one body as every operation's default error response."""

    ERROR_SCHEMA = ProblemSchema

    def handle_http_exception(self, error: HTTPException) -> tuple[dict[str, Any], int, dict]:
        payload, status, headers = super().handle_http_exception(error)
        body: dict[str, Any] = {"error": (error.name or "error").lower().replace(" ", "_").replace("'", ""),
                                "message": payload.get("message") or error.description or error.name}
        if "errors" in payload:
            body["errors"] = payload["errors"]
        return body, status, headers


def register_api(app: Flask) -> Api:
    """Create this app's Api, register the API blueprints and the bearer scheme in the OpenAPI document."""
    from ..extensions import csrf
    from . import audit as audit_api
    from . import auth, groups, instances, processes, tasks
    from . import cmdb as cmdb_api
    from . import integrations as integrations_api
    from . import knowledge as knowledge_api
    from . import kpi as kpi_api
    from . import modeling as modeling_api
    from . import sla as sla_api
    from . import vendors as vendors_api

    # One Api per application: its OpenAPI spec and blueprint registrations are per app.
    api = ItsmApi(app)
    app.extensions["api"] = api
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.components.schema("TaskDetail", schema=tasks.TaskDetail)
    api.spec.components.schema("NoteOut", schema=instances.NoteOut)
    for module in (auth, processes, instances, tasks, groups, modeling_api, audit_api, sla_api, kpi_api):
        csrf.exempt(module.blp)
        api.register_blueprint(module.blp, url_prefix=f"/api/v1{module.PREFIX}")
    for module in (cmdb_api, knowledge_api, integrations_api, vendors_api):  # the support system (6.2)
        csrf.exempt(module.blp)
        api.register_blueprint(module.blp, url_prefix=f"/api/v1{module.PREFIX}")
    return api
