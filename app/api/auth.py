"""POST /api/v1/auth/token: exchange username and password for a bearer token."""
from __future__ import annotations

from flask import current_app, request
from flask_babel import gettext as _
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..extensions import db
from ..services.accounts import LoginRefused, authenticate
from ..services.errors import ServiceError
from ..services.identity import issue_token
from .common import ApiError, ProblemSchema

PREFIX = "/auth"
blp = Blueprint("api_auth", __name__, description="Authentication")


class Credentials(Schema):
    username = fields.String(required=True)
    password = fields.String(required=True, load_only=True)


class TokenOut(Schema):
    token = fields.String()
    token_type = fields.String()
    expires_in = fields.Integer()
    username = fields.String()


class PasswordChangeRequired(ServiceError):
    status = 403
    code = "password_change_required"


@blp.route("/token", methods=["POST"])
@blp.arguments(Credentials())
@blp.response(200, TokenOut)
@blp.alt_response(429, schema=ProblemSchema, description="Too many failed logins: `account_locked` (the account, "
                  "with `locked_until`) or `too_many_attempts` (from this address); `Retry-After` either way")
def token(creds: dict):  # noqa: ANN201
    """Obtain a bearer token."""
    try:
        user = authenticate(creds["username"], creds["password"], channel="api", remote_addr=request.remote_addr)
    except LoginRefused:
        db.session.commit()  # the refused try is in the security log
        raise
    db.session.commit()  # a failed try counts towards the lock; every try is in the security log
    if user is None:
        raise ApiError("wrong username or password")
    if user.must_change_password:
        raise PasswordChangeRequired(_("Log in on the web and choose your own password first."))
    return {"token": issue_token(user), "token_type": "Bearer",
            "expires_in": current_app.config["API_TOKEN_MAX_AGE"], "username": user.username}
