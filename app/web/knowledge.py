"""The knowledge base: search (articles, known errors, past incidents), article page with hit count,
feedback and attachments."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..downloads import stored_file
from ..extensions import db
from ..models import KnowledgeAttachment
from ..services import knowledge
from ..services.errors import ServiceError

bp = Blueprint("knowledge", __name__, url_prefix="/knowledge")


@bp.route("")
@login_required
def index():  # noqa: ANN201
    q = request.args.get("q", "").strip()
    hits = knowledge.search(q, 30) if q else []
    articles = [] if q else knowledge.list_articles(current_user)
    return render_template("knowledge/index.html", q=q, hits=hits, articles=articles)


@bp.route("/<int:article_id>")
@login_required
def show(article_id: int):  # noqa: ANN201
    article = knowledge.get_article(current_user, article_id)
    knowledge.record_view(article)
    db.session.commit()
    return render_template("knowledge/show.html", article=article, attachments=knowledge.attachments(article),
                           may_edit=knowledge.can_edit(current_user))


@bp.route("/<int:article_id>/feedback", methods=["POST"])
@login_required
def feedback(article_id: int):  # noqa: ANN201
    article = knowledge.get_article(current_user, article_id)
    knowledge.give_feedback(current_user, article, request.form.get("helpful") == "yes")
    db.session.commit()
    flash(_("Thank you for your feedback."), "success")
    return redirect(url_for("knowledge.show", article_id=article.id))


@bp.route("/<int:article_id>/attachments", methods=["POST"])
@login_required
def upload(article_id: int):  # noqa: ANN201
    if not knowledge.can_edit(current_user):
        abort(403)
    article = knowledge.get_article(current_user, article_id)
    file = request.files.get("file")
    try:
        if file is None or not file.filename:
            flash(_("Choose a file."), "error")
        else:
            knowledge.add_attachment(current_user, article, file.filename, file.read(),
                                     file.mimetype or "application/octet-stream")
            db.session.commit()
            flash(_("Attachment added."), "success")
    except ServiceError as exc:
        db.session.rollback()
        if exc.status == 403:
            raise
        flash(exc.message, "error")
    return redirect(url_for("knowledge.show", article_id=article_id))


@bp.route("/attachments/<int:attachment_id>")
@login_required
def download(attachment_id: int):  # noqa: ANN201
    att = db.session.get(KnowledgeAttachment, attachment_id) or abort(404)
    knowledge.get_article(current_user, att.article_id)
    return stored_file(att.data, att.filename, att.content_type)
