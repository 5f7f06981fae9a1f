"""SLA jobs: the periodic sweep that marks warnings and breaches once and notifies (idempotent)."""
from __future__ import annotations

from datetime import datetime

from ..extensions import db
from ..models.base import utcnow
from ..services import sla


def sweep(now: str | None = None) -> dict[str, int]:
    """Warn at the warning share and notify breaches, each once per clock (rq cron every minute)."""
    counts = sla.sweep(datetime.fromisoformat(now) if now else utcnow())
    db.session.commit()
    return counts


def monthly_reports(period: str | None = None) -> int:
    """Store last month's SLA report of every organisation (rq cron on the 1st; idempotent)."""
    count = sla.build_all_reports(period)
    db.session.commit()
    return count
