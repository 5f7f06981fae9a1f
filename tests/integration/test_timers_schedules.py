"""Scheduled process starts from the `schedule` property of start events (e.g. R/P6M): once per period."""
from __future__ import annotations

from datetime import timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy import select

from app.models import Event, ProcessInstance, ProcessSchedule
from app.models.base import utcnow
from app.services import schedules


def test_parse_schedule():
    assert schedules.parse_schedule("R/P1M") == relativedelta(months=1)
    assert schedules.parse_schedule("R4/P1Y2M3DT4H") == relativedelta(years=1, months=2, days=3, hours=4)
    for bad in ("P1M", "R/", "R/PT", "every month"):
        with pytest.raises(ValueError):
            schedules.parse_schedule(bad)


def test_scheduled_starts_happen_once_per_period(db):
    declared = {pid: text for pid, text, _lane in schedules.scheduled_processes()}
    assert "service_level" in declared and declared["service_level"].startswith("R/P")
    now = utcnow()
    first = schedules.start_due(now)
    assert first["scheduled"] >= 1 and first["started"] == 0  # deploying starts nothing at once
    later = now + relativedelta(years=1) + timedelta(minutes=1)
    counts = schedules.start_due(later)
    assert counts["started"] >= 1
    assert schedules.start_due(later) == {"scheduled": 0, "started": 0, "failed": 0}  # claimed: once only
    row = db.session.scalar(select(ProcessSchedule).where(ProcessSchedule.process_id == "service_level"))
    assert row.last_error == "" and row.next_run_at > later
    instance = db.session.get(ProcessInstance, row.last_instance_id)
    started = db.session.scalar(select(Event).where(Event.instance_id == instance.id, Event.seq == 1))
    assert started.data["started_by"]["schedule"] == declared["service_level"]
