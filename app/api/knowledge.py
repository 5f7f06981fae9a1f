"""Knowledge search over the API: articles, known errors and closed incidents' solutions."""
from __future__ import annotations

from dataclasses import asdict

from flask import request
from flask_smorest import Blueprint

from ..services import knowledge
from .common import SECURITY, token_required

PREFIX = "/knowledge"
blp = Blueprint("api_knowledge", __name__, description="Knowledge base")


@blp.route("", methods=["GET"])
@blp.doc(security=SECURITY)
@blp.response(200)
@token_required
def search():  # noqa: ANN201
    """`?q=` ranked hits (kind article | known_error | incident, ref, title, excerpt, score)."""
    limit = min(max(request.args.get("limit", 10, type=int), 1), 50)
    return [asdict(h) for h in knowledge.search(request.args.get("q", ""), limit)]
