"""Knowledge management (spec 6.1.10): the article base with a Chinese-aware index, attachments, feedback,
and the lookup the desk uses (Table 2 step 3) over articles, the known-error database and closed incidents.

Index: each published article's title (counted three times), body and attachment text are segmented
with jieba (search mode, its bundled dictionary, no network) into words, plus character bigrams of every
CJK run stored as ``#xy`` terms for fuzzy matching (a wrong or substituted character still shares most
bigrams). ``knowledge_term`` holds (term, article, BM25 term weight), the weight precomputed at flush
time against a reference document length, so a search reads one covering index and sums idf x weight.
Bigrams are the fallback: they are read only when a query word is unknown to the index or the words
alone find too little. Helpful/not-helpful feedback nudges the ranking.
"""
from __future__ import annotations

import html
import io
import logging
import math
import re
import zipfile
from collections import Counter
from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import case, delete, event, func, insert, or_, select
from sqlalchemy.orm import Session

from ..engine.runtime import ProcessRun
from ..extensions import db
from ..models import (
    Incident,
    KnowledgeArticle,
    KnowledgeAttachment,
    KnowledgeFeedback,
    KnowledgeTerm,
    KnownError,
    ProcessInstance,
    User,
)
from . import instances
from .audit import append_event
from .errors import Forbidden, NotFound, ValidationFailed

PROCESS_ID = "knowledge"
STATES = {"draft", "under_review", "published", "retired"}
EDITOR_GROUPS = ("knowledge_lead", "knowledge_operator", "service_desk")
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
ATTACHMENT_TYPES = {".txt", ".docx", ".xlsx"}

_STOP = {"的", "了", "和", "是", "在", "与", "及", "或", "后", "把", "被", "对", "将", "也", "就", "都", "而",
         "a", "an", "the", "of", "to", "and", "or", "in", "on", "is", "for", "with"}
_WORD = re.compile(r"[\w\u4e00-\u9fff]", re.UNICODE)
_CJK_RUN = re.compile(r"[\u4e00-\u9fff]{2,}")
_K1, _B = 1.2, 0.75
_FUZZY_WEIGHT = 0.5


@dataclass
class Hit:
    """One search result: article, known error or past incident."""

    kind: str
    ref: str
    title: str
    excerpt: str
    score: float
    id: int | None = None
    hits: int = 0


# --- tokenising --------------------------------------------------------------------------------------

_jieba = None


def _segmenter() -> Any:
    global _jieba
    if _jieba is None:
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _jieba = jieba
    return _jieba


def words(text: str) -> list[str]:
    """jieba search-mode words, lower-cased, without punctuation and stop words."""
    out = []
    for token in _segmenter().cut_for_search(text or ""):
        token = token.strip().lower()
        if token and token not in _STOP and _WORD.search(token) and len(token) <= 64:
            out.append(token)
    return out


def bigrams(text: str) -> list[str]:
    """Character bigrams of each CJK run, as '#xy' terms."""
    out = []
    for run in _CJK_RUN.findall(text or ""):
        out.extend("#" + run[i:i + 2] for i in range(len(run) - 1))
    return out


_REF_DL = 60.0  # reference document length (word tokens) for the precomputed BM25 weights


def index_terms(article: KnowledgeArticle) -> tuple[dict[str, float], int]:
    """BM25 term weights of an article (empty unless published) and its length in word tokens."""
    tf: Counter[str] = Counter()
    length = 0
    for text, weight in ((article.title or "", 3.0), (article.body or "", 1.0), (article.attachment_text or "", 1.0)):
        ws = words(text)
        length += len(ws) * int(weight)
        for term in ws:
            tf[term] += weight
        for term in bigrams(text):
            tf[term] += weight
    length = max(length, 1)
    status = article.status if article.status is not None else KnowledgeArticle.status.default.arg  # before INSERT
    if status != "published":
        return {}, length
    norm = _K1 * (1 - _B + _B * length / _REF_DL)
    return {term: round(f * (_K1 + 1) / (f + norm), 4) for term, f in tf.items()}, length


# --- index maintenance at flush ----------------------------------------------------------------------

_REINDEX = "knowledge_reindex"
_INDEXED = ("title", "body", "attachment_text", "status")


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _context: object, _instances: object) -> None:
    from sqlalchemy import inspect

    todo = session.info.setdefault(_REINDEX, [])
    for obj in list(session.new) + list(session.dirty):
        if not isinstance(obj, KnowledgeArticle):
            continue
        state = inspect(obj)
        if obj in session.new or any(state.attrs[a].history.has_changes() for a in _INDEXED):
            terms, length = index_terms(obj)
            obj.token_count = length
            todo.append((obj, terms, obj in session.new))


@event.listens_for(Session, "after_flush")
def _write_index(session: Session, _context: object) -> None:
    todo = session.info.pop(_REINDEX, None)
    if not todo:
        return
    old_ids = [obj.id for obj, _terms, new in todo if not new]
    if old_ids:
        session.execute(delete(KnowledgeTerm).where(KnowledgeTerm.article_id.in_(old_ids)))
    rows = [{"article_id": obj.id, "term": term, "weight": w} for obj, terms, _new in todo for term, w in terms.items()]
    if rows:
        session.execute(insert(KnowledgeTerm), rows)


# --- search ------------------------------------------------------------------------------------------

def _document_frequencies(terms: list[str]) -> dict[str, int]:
    if not terms:
        return {}
    stmt = select(KnowledgeTerm.term, func.count()).where(KnowledgeTerm.term.in_(terms)).group_by(KnowledgeTerm.term)
    return dict(db.session.connection().execute(stmt).all())


def _ranked(idf: dict[str, float], need_words: int, need_bigrams: int, k: int) -> list[tuple[int, float]]:
    """Sum idf x weight per article in the database (one pass over the covering index), best k first;
    an article must match at least `need_words` query words or `need_bigrams` query bigrams."""
    is_bigram = func.substr(KnowledgeTerm.term, 1, 1) == "#"
    score = func.sum(case(idf, value=KnowledgeTerm.term, else_=0.0) * KnowledgeTerm.weight).label("score")
    stmt = (select(KnowledgeTerm.article_id, score).where(KnowledgeTerm.term.in_(list(idf)))
            .group_by(KnowledgeTerm.article_id)
            .having(or_(func.sum(case((is_bigram, 0), else_=1)) >= need_words,
                        func.sum(case((is_bigram, 1), else_=0)) >= need_bigrams))
            .order_by(score.desc(), KnowledgeTerm.article_id).limit(k))
    return [(aid, float(sc)) for aid, sc in db.session.connection().execute(stmt).all()]


def search_articles(query: str, limit: int = 10) -> list[tuple[int, float]]:
    """(published article id, score) best first: BM25 over words, with fuzzy bigrams as the fallback."""
    q_words = list(dict.fromkeys(words(query)))[:20]
    q_bigrams = list(dict.fromkeys(bigrams(query)))[:40]
    if not q_words and not q_bigrams:
        return []
    n_docs = db.session.scalar(select(func.count(KnowledgeArticle.id)).where(
        KnowledgeArticle.status == "published")) or 0
    if not n_docs:
        return []

    def idf_of(dfs: dict[str, int], factor: float) -> dict[str, float]:
        return {t: factor * math.log(1 + (n_docs - df + 0.5) / (df + 0.5)) for t, df in dfs.items()}

    # A stray shared word is no match: at least half of the query's words (or bigrams) must be there.
    need_words = math.ceil(len(q_words) / 2) if q_words else 10**6
    need_bigrams = math.ceil(len(q_bigrams) / 2) if q_bigrams else 10**6
    k = limit * 3
    word_df = _document_frequencies(q_words)
    idf = idf_of(word_df, 1.0)
    top = _ranked(idf, need_words, 10**6, k) if idf else []
    unknown_word = any(w not in word_df for w in q_words)
    if q_bigrams and (unknown_word or len(top) < limit):
        idf.update(idf_of(_document_frequencies(q_bigrams), _FUZZY_WEIGHT))
        top = _ranked(idf, need_words, need_bigrams, k) if idf else []
    if not top:
        return []
    feedback = {aid: (good or 0) - (bad or 0) for aid, good, bad in db.session.execute(select(
        KnowledgeArticle.id, KnowledgeArticle.helpful_count, KnowledgeArticle.not_helpful_count).where(
        KnowledgeArticle.id.in_([a for a, _s in top]), KnowledgeArticle.status == "published"))}
    ranked = [(aid, round(sc * (1 + 0.05 * max(-5, min(5, feedback[aid]))), 4)) for aid, sc in top if aid in feedback]
    ranked.sort(key=lambda r: (-r[1], r[0]))
    return ranked[:limit]


def _like_terms(query: str) -> list[str]:
    return [w for w in dict.fromkeys(words(query)) if len(w) >= 2 or not w.isascii()][:12]


def search(query: str, limit: int = 10) -> list[Hit]:
    """Published articles, known errors and closed incidents' solutions matching the query, best first."""
    hits: list[Hit] = []
    ranked = search_articles(query, limit)
    if ranked:
        arts = {a.id: a for a in db.session.scalars(
            select(KnowledgeArticle).where(KnowledgeArticle.id.in_([aid for aid, _s in ranked])))}
        for aid, score in ranked:
            art = arts[aid]
            hits.append(Hit("article", f"KB-{art.id}", art.title, (art.body or "")[:160], score, art.id, art.hits))
    terms = _like_terms(query)
    if terms:
        ke_cond = or_(*[KnownError.title.contains(t) | KnownError.root_cause.contains(t)
                        | KnownError.workaround.contains(t) for t in terms])
        for ke in db.session.scalars(select(KnownError).where(ke_cond).limit(50)):
            text = f"{ke.title} {ke.root_cause} {ke.workaround}"
            matched = sum(1 for t in terms if t in text)
            if matched / len(terms) >= 0.5:
                hits.append(Hit("known_error", ke.problem_key, ke.title, (ke.workaround or ke.root_cause)[:160],
                                round(matched / len(terms) * 5, 4), ke.instance_id))
        inc_cond = or_(*[Incident.symptoms.contains(t) for t in terms])
        for inc in db.session.scalars(select(Incident).where(
                Incident.status == "closed", Incident.solution != "", inc_cond).limit(50)):
            matched = sum(1 for t in terms if t in inc.symptoms)
            if matched / len(terms) >= 0.5:
                hits.append(Hit("incident", inc.number, inc.symptoms[:80], inc.solution[:160],
                                round(matched / len(terms) * 3, 4), inc.instance_id))
    hits.sort(key=lambda h: -h.score)
    return hits[:limit]


# --- articles, hits, feedback, attachments -----------------------------------------------------------

def can_edit(user: User) -> bool:
    return user.in_group(*EDITOR_GROUPS)


def get_article(user: User, article_id: int) -> KnowledgeArticle:
    article = db.session.get(KnowledgeArticle, article_id)
    if article is None:
        raise NotFound(_("Article %(id)s does not exist.", id=article_id))
    if article.status != "published" and not user.memberships:
        raise Forbidden(_("This article is not published."))
    return article


def record_view(article: KnowledgeArticle) -> None:
    """Count a reading of the article (its hit count)."""
    article.hits = (article.hits or 0) + 1
    db.session.flush()


def give_feedback(user: User, article: KnowledgeArticle, helpful: bool) -> KnowledgeFeedback:
    """One verdict per user and article; changing one's mind moves the counters."""
    if user.in_group("auditor") and len(user.memberships) == 1:
        raise Forbidden(_("Auditors have read-only access."))
    row = db.session.scalar(select(KnowledgeFeedback).where(
        KnowledgeFeedback.article_id == article.id, KnowledgeFeedback.user_id == user.id))
    if row is not None:
        if row.helpful == helpful:
            return row
        if row.helpful:
            article.helpful_count -= 1
        else:
            article.not_helpful_count -= 1
        row.helpful = helpful
    else:
        row = KnowledgeFeedback(article_id=article.id, user_id=user.id, helpful=helpful)
        db.session.add(row)
    if helpful:
        article.helpful_count = (article.helpful_count or 0) + 1
    else:
        article.not_helpful_count = (article.not_helpful_count or 0) + 1
    db.session.flush()
    return row


def extract_text(filename: str, content: bytes) -> str:
    """Text of a .txt, .docx (zip + document.xml, read without an XML parser) or .xlsx (openpyxl)."""
    ext = "." + filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ext == ".txt":
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                return content.decode(encoding)
            except UnicodeDecodeError:
                continue
        return content.decode("utf-8", errors="replace")
    if ext == ".docx":
        try:
            with zipfile.ZipFile(io.BytesIO(content)) as zf:
                info = zf.getinfo("word/document.xml")
                if info.file_size > 50 * 1024 * 1024:
                    raise ValidationFailed(_("The document is too large."), {"file": [_("Too large.")]})
                xml = zf.read(info).decode("utf-8", errors="replace")
        except (zipfile.BadZipFile, KeyError):
            raise ValidationFailed(_("Not a Word document."), {"file": [_("Not a .docx file.")]}) from None
        paragraphs = []
        for para in re.split(r"</w:p>", xml):
            text = "".join(re.findall(r"<w:t(?:\s[^>]*)?>([^<]*)</w:t>", para))
            if text:
                paragraphs.append(html.unescape(text))
        return "\n".join(paragraphs)
    if ext == ".xlsx":
        from openpyxl import load_workbook

        try:
            wb = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception:  # noqa: BLE001  (openpyxl raises many kinds for a bad file)
            raise ValidationFailed(_("Not an Excel workbook."), {"file": [_("Not a .xlsx file.")]}) from None
        lines = []
        for ws in wb.worksheets:
            for n, row in enumerate(ws.iter_rows(values_only=True)):
                if n > 20000:
                    break
                cells = [str(v) for v in row if v not in (None, "")]
                if cells:
                    lines.append(" ".join(cells))
        wb.close()
        return "\n".join(lines)
    raise ValidationFailed(_("Only .txt, .docx and .xlsx files can be attached."),
                           {"file": [_("Unsupported file type.")]})


def add_attachment(user: User, article: KnowledgeArticle, filename: str, content: bytes,
                   content_type: str = "application/octet-stream") -> KnowledgeAttachment:
    """Attach a file; its text joins the article's index."""
    if not can_edit(user):
        raise Forbidden(_("Only knowledge management and the service desk may attach files."))
    filename = (filename or "").replace("\\", "/").rsplit("/", 1)[-1][:255]
    if not filename:
        raise ValidationFailed(_("Choose a file."), {"file": [_("Required.")]})
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise ValidationFailed(_("The file is too large."), {"file": [_("At most 5 MB.")]})
    text = extract_text(filename, content)
    att = KnowledgeAttachment(article_id=article.id, filename=filename, content_type=content_type[:120],
                              size=len(content), data=content, text=text, uploaded_by_id=user.id)
    db.session.add(att)
    article.attachment_text = "\n".join(filter(None, [article.attachment_text or "", text]))
    if article.instance is not None:
        append_event(article.instance, "attachment_added", actor=user, data={"filename": filename,
                                                                             "size": len(content)})
    db.session.flush()
    return att


def attachments(article: KnowledgeArticle) -> list[KnowledgeAttachment]:
    return list(db.session.scalars(select(KnowledgeAttachment).where(KnowledgeAttachment.article_id == article.id)
                                   .order_by(KnowledgeAttachment.id)))


def list_articles(user: User, limit: int = 100) -> list[KnowledgeArticle]:
    stmt = select(KnowledgeArticle).order_by(KnowledgeArticle.id.desc()).limit(limit)
    if not user.memberships:
        stmt = stmt.where(KnowledgeArticle.status == "published")
    return list(db.session.scalars(stmt))


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


def reindex_all() -> int:
    """Rebuild the search index of every article (after an upgrade that introduced it, or a tokenizer change)."""
    articles = list(db.session.scalars(select(KnowledgeArticle)))
    if articles:
        db.session.execute(delete(KnowledgeTerm))
    rows = []
    for article in articles:
        terms, length = index_terms(article)
        article.token_count = length
        rows += [{"article_id": article.id, "term": term, "weight": w} for term, w in terms.items()]
    if rows:
        db.session.execute(insert(KnowledgeTerm), rows)
    db.session.flush()
    return len(articles)
