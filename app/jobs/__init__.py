"""Background jobs: each takes ids (or nothing), is idempotent, and is enqueued through the outbox after
the state change commits. `jobs()` names what the outbox may carry; `run_job` runs one outbox row once."""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import update

from ..extensions import db
from ..models import OutboxJob
from ..models.base import utcnow

log = logging.getLogger(__name__)


def jobs() -> dict[str, Callable[..., Any]]:
    """Job name -> function (imported lazily: job modules import services)."""
    from ..services import notifications
    from . import sla_jobs, timer_jobs

    return {
        "notifications.send": notifications.send,
        "timers.sweep": timer_jobs.sweep,
        "timers.fire": timer_jobs.fire_instance,
        "sla.sweep": sla_jobs.sweep,
        "sla.reports": sla_jobs.monthly_reports,
        "outbox.dispatch": _dispatch,
        "schedules.start": _start_scheduled,
        "vendors.reminders": _remind_contracts,
        "mail.poll": _poll_mail,
    }


_MAIL_EVERY = 55.0  # seconds: the in-process loop runs every 10 s; a mail server wants fewer logins than that
_last_mail_poll = [0.0]


def _poll_mail() -> dict[str, Any]:
    import time

    from ..services import mail_intake

    if time.monotonic() - _last_mail_poll[0] < _MAIL_EVERY:
        return {"polled": False, "reason": "polled less than a minute ago"}
    _last_mail_poll[0] = time.monotonic()
    return mail_intake.poll()  # commits each message itself


def _remind_contracts() -> int:
    from ..services import vendors

    return vendors.remind_contracts()


def _start_scheduled() -> dict[str, int]:
    from ..services import schedules

    counts = schedules.start_due()
    db.session.commit()
    return counts


def _dispatch() -> dict[str, int]:
    from ..services import outbox

    return outbox.dispatch()


def run_job(outbox_id: int) -> bool:
    """Run one outbox job if it has not run yet; commits. True if it ran now."""
    row = db.session.get(OutboxJob, outbox_id)
    if row is None or row.done_at is not None:
        return False
    try:
        jobs()[row.name](**(row.args or {}))
    except Exception as exc:
        db.session.rollback()
        db.session.execute(update(OutboxJob).where(OutboxJob.id == outbox_id).values(
            last_error=str(exc)[:2000], attempts=OutboxJob.attempts + 1))
        db.session.commit()
        log.exception("outbox job %s failed", outbox_id)
        raise
    done = db.session.execute(update(OutboxJob).where(OutboxJob.id == outbox_id, OutboxJob.done_at.is_(None))
                              .values(done_at=utcnow(), attempts=OutboxJob.attempts + 1))
    db.session.commit()
    return done.rowcount == 1
