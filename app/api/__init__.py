"""JSON API under /api/v1 (flask-smorest); bearer-token authentication only, so no CSRF surface."""
from __future__ import annotations

from flask import Flask
from flask_smorest import Api


def register_api(app: Flask) -> Api:
    """Create this app's Api, register the API blueprints and the bearer scheme in the OpenAPI document."""
    from ..extensions import csrf
    from . import audit as audit_api
    from . import auth, groups, instances, processes, tasks
    from . import cmdb as cmdb_api
    from . import integrations as integrations_api
    from . import knowledge as knowledge_api
    from . import modeling as modeling_api
    from . import sla as sla_api

    # One Api per application: its OpenAPI spec and blueprint registrations are per app.
    api = Api(app)
    app.extensions["api"] = api
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    api.spec.components.schema("TaskDetail", schema=tasks.TaskDetail)
    for module in (auth, processes, instances, tasks, groups, modeling_api, audit_api, sla_api):
        csrf.exempt(module.blp)
        api.register_blueprint(module.blp, url_prefix=f"/api/v1{module.PREFIX}")
    for module in (cmdb_api, knowledge_api, integrations_api):  # CMDB, knowledge, monitoring intake
        csrf.exempt(module.blp)
        api.register_blueprint(module.blp, url_prefix=f"/api/v1{module.PREFIX}")
    return api
