"""Scheduled process starts: start events carrying `<spiffworkflow:property name="schedule" value="R/P1M"/>`.

For each deployed process with a schedule and each organisation that has a member of the start event's lane
group, a `process_schedule` row holds the next run. The periodic job (`schedules.start`, every minute) claims a
due row by moving `next_run_at` forward with `UPDATE ... WHERE next_run_at = <old>` (one start even with two
workers) and starts the process without start data on behalf of that member, `started_by = {"schedule": …}`.
The first run is one interval after the schedule is first seen (deploying never starts anything at once).
"""
from __future__ import annotations

import re
from datetime import datetime

from dateutil.relativedelta import relativedelta
from sqlalchemy import select, update

from ..engine.definitions import read_bpmn
from ..engine.xml import parse_xml
from ..extensions import db
from ..models import Group, ProcessSchedule, User, UserGroup
from ..models.base import utcnow
from .definitions import deployed_processes

_DURATION = re.compile(r"P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")


def parse_schedule(text: str) -> relativedelta:
    """The step of an ISO 8601 repeating interval `R/P…` or `Rn/P…` (the repeat count is not limited here)."""
    parts = text.strip().split("/")
    if len(parts) != 2 or not parts[0].startswith("R"):
        raise ValueError(f"schedule {text!r} is not R/<duration>")
    match = _DURATION.match(parts[1])
    if not match or not any(match.groups()):
        raise ValueError(f"schedule {text!r} has no valid duration")
    y, mo, w, d, h, mi = (int(g or 0) for g in match.groups())
    return relativedelta(years=y, months=mo, weeks=w, days=d, hours=h, minutes=mi)


def scheduled_processes() -> list[tuple[str, str, str | None]]:
    """(process id, schedule, start lane group) of the latest deployed versions that declare one."""
    out = []
    for version in deployed_processes():
        info = read_bpmn(parse_xml(version.bpmn_xml.encode("utf-8")))
        for element_id, props in info.properties.items():
            element = info.elements.get(element_id) or {}
            if props.get("schedule") and element.get("type") == "startEvent" \
                    and element.get("process", version.process_id) == version.process_id:
                out.append((version.process_id, props["schedule"], info.node_lane.get(element_id)))
    return out


def _starters(group_code: str | None) -> dict[int, User]:
    """One active member of the group per organisation (the lowest id), or nobody."""
    if not group_code:
        return {}
    users = db.session.scalars(select(User).join(UserGroup, UserGroup.user_id == User.id).join(Group)
                               .where(Group.code == group_code.removeprefix("lane_"), User.active.is_(True))
                               .order_by(User.id))
    found: dict[int, User] = {}
    for user in users:
        found.setdefault(user.organisation_id, user)
    return found


def start_due(now: datetime | None = None) -> dict[str, int]:
    """Create missing schedule rows, then start every due one once. The caller (the job) commits."""
    from . import instances

    now = now or utcnow()
    counts = {"scheduled": 0, "started": 0, "failed": 0}
    for process_id, schedule, lane in scheduled_processes():
        try:
            step = parse_schedule(schedule)
        except ValueError:
            continue
        starters = _starters(lane)
        rows = {r.organisation_id: r for r in db.session.scalars(
            select(ProcessSchedule).where(ProcessSchedule.process_id == process_id))}
        for org_id, starter in starters.items():
            row = rows.get(org_id)
            if row is None:
                db.session.add(ProcessSchedule(process_id=process_id, organisation_id=org_id, schedule=schedule,
                                               next_run_at=now + step))
                counts["scheduled"] += 1
                continue
            row.schedule = schedule
            if row.next_run_at > now:
                continue
            following = row.next_run_at
            while following <= now:
                following = following + step
            claimed = db.session.execute(update(ProcessSchedule).where(
                ProcessSchedule.id == row.id, ProcessSchedule.next_run_at == row.next_run_at)
                .values(next_run_at=following, last_run_at=now))
            if claimed.rowcount != 1:
                continue
            try:
                with db.session.begin_nested():
                    instance = instances.start_instance(process_id, starter, {}, validate_form=False,
                                                        started_by={"schedule": schedule, "at": now.isoformat()})
                db.session.execute(update(ProcessSchedule).where(ProcessSchedule.id == row.id)
                                   .values(last_instance_id=instance.id, last_error=""))
                counts["started"] += 1
            except Exception as exc:  # noqa: BLE001 - recorded on the row; the next period tries again
                db.session.execute(update(ProcessSchedule).where(ProcessSchedule.id == row.id)
                                   .values(last_error=str(exc)[:2000]))
                counts["failed"] += 1
    db.session.flush()
    return counts
