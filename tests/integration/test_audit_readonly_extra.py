"""Auditors are refused (403) on the remaining write pages: the business calendar and knowledge attachments."""
from __future__ import annotations

import io

from sqlalchemy import select

from app.models import KnowledgeArticle


def test_auditor_cannot_edit_the_calendar(login_as):
    response = login_as("auditor").post("/sla/calendar", data={"calendar": "{}"})
    assert response.status_code == 403


def test_auditor_cannot_attach_to_an_article(db, login_as):
    article = db.session.scalar(select(KnowledgeArticle).limit(1))
    response = login_as("auditor").post(f"/knowledge/{article.id}/attachments",
                                        data={"file": (io.BytesIO(b"x"), "a.txt")},
                                        content_type="multipart/form-data")
    assert response.status_code == 403
