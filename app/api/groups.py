"""Groups (the spec's roles) with their members: administrators and auditors only."""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields

from ..services.identity import list_groups
from .common import SECURITY, api_user, token_required

PREFIX = "/groups"
blp = Blueprint("api_groups", __name__, description="Groups and members")


class MemberOut(Schema):
    username = fields.Function(lambda m: m.user.username)
    display_name = fields.Function(lambda m: m.user.display_name)
    organisation = fields.Function(lambda m: m.user.organisation.code)
    tier = fields.String(allow_none=True)


class GroupOut(Schema):
    code = fields.String()
    name = fields.String()
    name_en = fields.String()
    members = fields.List(fields.Nested(MemberOut), attribute="memberships")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200, GroupOut(many=True))
@token_required
def groups():  # noqa: ANN201
    """Every group with its members."""
    return list_groups(api_user())
