"""Serve browser assets installed from the npm registry (package.json), never copied into the repository."""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, abort, current_app, send_from_directory

bp = Blueprint("vendor", __name__, url_prefix="/vendor")
# Only these packages' distribution folders are reachable; nothing else under node_modules is served.
ALLOWED = {"bpmn-js": "dist", "dmn-js": "dist", "cytoscape": "dist"}


@bp.route("/<package>/<path:filename>")
def asset(package: str, filename: str):  # noqa: ANN201
    if package not in ALLOWED:
        abort(404)
    root = Path(current_app.config["NODE_MODULES_DIR"]) / package / ALLOWED[package]
    if not root.is_dir():
        abort(404)
    response = send_from_directory(root, filename, max_age=86400)
    return response
