"""Integrations: monitoring webhooks (Prometheus Alertmanager, Zabbix) and the desk's mailbox, for integration
accounts only.

Authenticate with ``Authorization: Bearer <token>`` printed by ``flask create-integration-token <name>``.
Ordinary user tokens are refused here, and integration tokens are refused everywhere else.
The Zabbix JSON mapping is documented in app/services/monitoring.py.
"""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import g, request
from flask_smorest import Blueprint

from ..extensions import db
from ..services import mail_intake, monitoring
from ..services.errors import ValidationFailed
from .common import SECURITY, ApiError

PREFIX = "/integrations"
blp = Blueprint("api_integrations", __name__, description="Monitoring integrations")


def integration_required(view: Callable) -> Callable:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        user = monitoring.integration_user(token.strip()) if scheme.lower() == "bearer" and token else None
        if user is None:
            raise ApiError("a valid integration token is required")
        g.integration_user = user
        return view(*args, **kwargs)

    return wrapper


def _payload() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed("a JSON object is required", {"body": ["JSON object"]})
    return data


def _answer(results: list[dict]) -> dict:
    db.session.commit()
    incidents = {r["incident"]["business_key"]: r["incident"] for r in results if r.get("incident")}
    return {"results": results, "incidents": list(incidents.values())}


@blp.route("/alertmanager", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200)
@integration_required
def alertmanager():  # noqa: ANN201
    """Alertmanager webhook (version 4): raises, counts or resolves incidents per alert fingerprint."""
    return _answer(monitoring.receive_alertmanager(g.integration_user, _payload()))


@blp.route("/zabbix", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200)
@integration_required
def zabbix():  # noqa: ANN201
    """Zabbix webhook media type (event_id, event_name, host, severity, status PROBLEM/RESOLVED, trigger_id)."""
    return _answer(monitoring.receive_zabbix(g.integration_user, _payload()))


@blp.route("/mail", methods=["POST"])
@blp.doc(security=SECURITY, requestBody={"required": True, "content": {
    "message/rfc822": {"schema": {"type": "string", "format": "binary"}}}})
@blp.response(200)
@integration_required
def mail():  # noqa: ANN201
    """One e-mail to the service desk, as the mail gateway received it (raw RFC 822): from a known user it becomes a
    fault report, or a note on the case its subject names; from anyone else it is refused. A message is handled
    once per Message-ID: a redelivery answers what happened the first time (`duplicate`)."""
    if request.mimetype not in ("message/rfc822", "application/octet-stream"):
        raise ValidationFailed("send the message as message/rfc822", {"body": ["message/rfc822"]})
    result = mail_intake.receive_mail(g.integration_user, request.get_data(cache=False))
    db.session.commit()
    return result
