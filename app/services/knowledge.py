"""Knowledge lookup for the desk (Table 2 step 3): published articles and solutions of closed incidents."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import or_, select

from ..engine.runtime import ProcessRun
from ..extensions import db
from ..models import Incident, KnowledgeArticle, KnownError, ProcessInstance, User
from . import instances
from .audit import append_event

PROCESS_ID = "knowledge"
STATES = {"draft", "under_review", "published", "retired"}

_SPLIT = re.compile(r"[\s,，。;；:：、/]+")


@dataclass
class Hit:
    """One search result, article or past incident."""

    kind: str
    ref: str
    title: str
    excerpt: str
    score: int


def _terms(query: str) -> list[str]:
    # Chinese has no spaces: besides whole tokens, use two-character windows so "数据库超时" finds "数据库连接超时".
    terms: list[str] = []
    for token in (t for t in _SPLIT.split(query or "") if t):
        terms.append(token)
        if len(token) > 2 and not token.isascii():
            terms.extend(token[i:i + 2] for i in range(len(token) - 1))
    seen: dict[str, None] = {}
    for t in terms:
        seen.setdefault(t, None)
    return list(seen)[:20]


def search(query: str, limit: int = 10) -> list[Hit]:
    """Match published articles and closed incidents' solutions against the query terms."""
    terms = _terms(query)
    if not terms:
        return []
    art_cond = or_(*[KnowledgeArticle.title.contains(t) | KnowledgeArticle.body.contains(t) for t in terms])
    hits: list[Hit] = []
    for art in db.session.scalars(
        select(KnowledgeArticle).where(KnowledgeArticle.status == "published", art_cond).limit(50)
    ):
        text = f"{art.title} {art.body}"
        hits.append(Hit("article", f"KB-{art.id}", art.title, art.body[:160], sum(text.count(t) for t in terms)))
    inc_cond = or_(*[Incident.symptoms.contains(t) for t in terms])
    for inc in db.session.scalars(
        select(Incident).where(Incident.status == "closed", Incident.solution != "", inc_cond).limit(50)
    ):
        hits.append(Hit("incident", inc.number, inc.symptoms[:80], inc.solution[:160],
                        sum(inc.symptoms.count(t) for t in terms)))
    ke_cond = or_(*[KnownError.title.contains(t) | KnownError.root_cause.contains(t) for t in terms])
    for ke in db.session.scalars(select(KnownError).where(ke_cond).limit(50)):
        text = f"{ke.title} {ke.root_cause}"
        hits.append(Hit("known_error", ke.problem_key, ke.title, ke.workaround[:160],
                        sum(text.count(t) for t in terms)))
    hits.sort(key=lambda h: -h.score)
    return hits[:limit]


class KnowledgeHooks:
    """Mirrors the knowledge.bpmn review states onto the article (Table 11: temporary base, formal base)."""

    prefix = "KNW"

    def on_start(self, instance: ProcessInstance, run: ProcessRun, actor: User | None, data: dict) -> None:
        instance.title = str(data.get("title") or "")[:300]
        article = KnowledgeArticle(
            title=str(data.get("title") or "")[:300] or instance.business_key, body=str(data.get("body") or ""),
            category=str(data.get("category") or "other"), status="draft", instance=instance,
            origin_key=data.get("origin_key") or None,
        )
        db.session.add(article)

    def after_step(self, instance: ProcessInstance, run: ProcessRun, actor: User | None) -> None:
        article = db.session.scalar(select(KnowledgeArticle).where(KnowledgeArticle.instance_id == instance.id))
        if article is None:
            return
        data = run.data()
        for field in ("title", "body", "category"):
            if data.get(field):
                setattr(article, field, str(data[field]))
        state = data.get("knowledge_state")
        if state in STATES and state != article.status:
            append_event(instance, "article_state", actor=actor, data={"from": article.status, "to": state})
            article.status = state


instances.register(PROCESS_ID, KnowledgeHooks())
