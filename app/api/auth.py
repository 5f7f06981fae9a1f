"""POST /api/v1/auth/token: exchange username and password for a bearer token."""
from __future__ import annotations

from flask import current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..services.identity import authenticate, issue_token
from .common import ApiError

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


@blp.route("/token", methods=["POST"])
@blp.arguments(Credentials())
@blp.response(200, TokenOut)
def token(creds: dict):  # noqa: ANN201
    """Obtain a bearer token."""
    user = authenticate(creds["username"], creds["password"])
    if user is None:
        raise ApiError("wrong username or password")
    return {"token": issue_token(user), "token_type": "Bearer",
            "expires_in": current_app.config["API_TOKEN_MAX_AGE"], "username": user.username}
