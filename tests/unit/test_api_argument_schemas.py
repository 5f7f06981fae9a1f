"""Every API argument schema is given to flask-smorest as an instance.

Given a class, webargs builds a new schema for each request (a deep copy of every declared field): 14 % of the
instructions of a request answered 401 (benchmarks/instructions.py). An instance is built once."""
from __future__ import annotations

from marshmallow import Schema


def _argument_schemas(app) -> list[tuple[str, object]]:
    found = []
    for endpoint, view in app.view_functions.items():
        for parameter in getattr(view, "_apidoc", {}).get("arguments", {}).get("parameters", []):
            found.append((endpoint, parameter["schema"]))
    return found


def test_argument_schemas_are_instances(app) -> None:
    found = _argument_schemas(app)
    assert {"api_tasks.list_tasks", "api_tasks.complete", "api_processes.start", "api_auth.token"} <= {
        endpoint for endpoint, _ in found}
    classes = [endpoint for endpoint, schema in found if not isinstance(schema, Schema)]
    assert classes == [], f"pass schema instances to @blp.arguments: {classes}"


def test_a_reused_query_schema_still_validates_each_request(client, api_as) -> None:
    headers = api_as("desk")
    assert client.get("/api/v1/tasks?per_page=0", headers=headers).status_code == 422
    assert client.get("/api/v1/tasks?per_page=5", headers=headers).status_code == 200
    assert client.get("/api/v1/tasks?scope=nobody", headers=headers).status_code == 422
    assert client.get("/api/v1/tasks?per_page=7", headers=headers).status_code == 200
