"""Knowledge articles with a token index (jieba), attachments and user feedback."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import UTCDateTime, utcnow


class KnowledgeArticle(db.Model):
    __tablename__ = "knowledge_article"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(40), default="other", index=True)
    status: Mapped[str] = mapped_column(String(20), default="published", index=True)
    hits: Mapped[int] = mapped_column(default=0)
    # The knowledge.bpmn instance that reviews and publishes it, and where the knowledge came from.
    instance_id: Mapped[int | None] = mapped_column(ForeignKey("process_instance.id"), unique=True)
    origin_key: Mapped[str | None] = mapped_column(String(40))

    instance = relationship("ProcessInstance")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Text extracted from attachments (indexed with title and body); index length and feedback counters.
    attachment_text: Mapped[str] = mapped_column(Text, default="")
    token_count: Mapped[int] = mapped_column(default=0)
    helpful_count: Mapped[int] = mapped_column(default=0)
    not_helpful_count: Mapped[int] = mapped_column(default=0)


class KnowledgeTerm(db.Model):
    """Inverted index of published articles: a term (jieba word, or '#'+character bigram for fuzzy
    matching) with its precomputed BM25 term weight; the index on (term, article_id, weight) covers search."""

    __tablename__ = "knowledge_term"
    __table_args__ = (Index("ix_knowledge_term_term_article", "term", "article_id", "weight"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("knowledge_article.id", ondelete="CASCADE"), index=True)
    term: Mapped[str] = mapped_column(String(64))
    weight: Mapped[float] = mapped_column(default=1.0)


class KnowledgeAttachment(db.Model):
    __tablename__ = "knowledge_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("knowledge_article.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120), default="application/octet-stream")
    size: Mapped[int] = mapped_column(default=0)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    text: Mapped[str] = mapped_column(Text, default="")
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class KnowledgeFeedback(db.Model):
    """One user's verdict on an article (helpful or not); a user may change their mind."""

    __tablename__ = "knowledge_feedback"
    __table_args__ = (UniqueConstraint("article_id", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("knowledge_article.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    helpful: Mapped[bool] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
