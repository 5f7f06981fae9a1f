"""Problem management (spec 6.1.3, Table 3): the known-error database fed from the problem's data."""
from __future__ import annotations

from sqlalchemy import or_, select

from ..engine.runtime import ProcessRun
from ..extensions import db
from ..models import KnownError, ProcessInstance, User
from . import instances
from .audit import append_event

PROCESS_ID = "problem"


class ProblemHooks:
    """Writes the known error when experts record a root cause; marks it resolved when the problem closes."""

    prefix = "PRB"

    def on_start(self, instance: ProcessInstance, run: ProcessRun, actor: User | None, data: dict) -> None:
        instance.title = str(data.get("summary") or "")[:300]

    def after_step(self, instance: ProcessInstance, run: ProcessRun, actor: User | None) -> None:
        data = run.data()
        if data.get("priority"):
            instance.priority = str(data["priority"])
        if not (data.get("known_error") and data.get("known_error_title")):
            return
        entry = db.session.scalar(select(KnownError).where(KnownError.instance_id == instance.id))
        if entry is None:
            entry = KnownError(instance_id=instance.id, problem_key=instance.business_key, title="")
            db.session.add(entry)
            append_event(instance, "known_error_recorded", actor=actor,
                         data={"title": data["known_error_title"]})
        entry.title = str(data["known_error_title"])[:300]
        entry.root_cause = str(data.get("root_cause") or "")
        entry.workaround = str(data.get("workaround") or "")
        entry.category = data.get("category")
        entry.status = "resolved" if run.completed else "open"


def known_errors(query: str = "", limit: int = 50) -> list[KnownError]:
    """Known errors, newest first, optionally filtered by words in title, root cause or workaround."""
    stmt = select(KnownError).order_by(KnownError.id.desc()).limit(limit)
    terms = [t for t in (query or "").split() if t]
    for term in terms:
        stmt = stmt.where(or_(KnownError.title.contains(term), KnownError.root_cause.contains(term),
                              KnownError.workaround.contains(term)))
    return list(db.session.scalars(stmt))


instances.register(PROCESS_ID, ProblemHooks())
