"""Knowledge articles (minimal; the knowledge-base issue adds workflow states, attachments and ranking)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
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
