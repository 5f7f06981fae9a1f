"""Due timers: the indexed table of timers instances wait on, kept after every step, and the sweep that
fires them exactly once.

* `sync(instance, run)` runs after every saved step (instances._save): the unfired rows of the instance
  become exactly the engine's `run.due_timers()`.
* the sweep (app.jobs.timer_jobs.sweep) selects only due rows (`fired = false AND due_at <= now`, index
  ix_due_timer_pending) and, per row, claims it with
  `UPDATE due_timer SET fired = true WHERE id = ? AND fired = false` in the same
  transaction that fires the instance. A second worker's claim matches no row (PostgreSQL makes it wait for
  the first transaction, then sees fired = true), and the instance's optimistic lock turns a concurrent user
  action into a rollback of the firing, which the next sweep retries.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select, update

from ..engine.runtime import EngineError, ProcessRun
from ..extensions import db
from ..models import DueTimer, ProcessInstance
from .audit import append_event

log = logging.getLogger(__name__)


def sync(instance: ProcessInstance, run: ProcessRun, *, force: bool = False) -> None:
    """Make the instance's unfired due-timer rows match what the engine waits on now.

    The rows matched the engine when the run was loaded (every save syncs), so a step that left the
    timers as they were needs no query; `force` re-reads the rows anyway (repairs, version migration).
    """
    if not run.has_timers:
        return  # a process without timer events never has rows: no query
    wanted = set(run.due_timers()) if instance.status == "running" else set()
    if not force and wanted == run.timers_at_load:
        return
    rows = list(db.session.scalars(select(DueTimer).where(
        DueTimer.instance_id == instance.id, DueTimer.fired.is_(False))))
    have = {(r.element_id, r.due_at): r for r in rows}
    for key, row in have.items():
        if key not in wanted:
            db.session.delete(row)
    for element_id, due in wanted - set(have):
        db.session.add(DueTimer(instance_id=instance.id, element_id=element_id, due_at=due, fired=False))


def fire_due_timers(instance: ProcessInstance, now: datetime) -> list[str]:
    """Fire the instance's timers due at `now`, record the step like any other, and save."""
    from . import instances

    if instance.status != "running":
        return []
    run = ProcessRun.load(instances.compiled_for(instance.version), instance.state,
                          instances.connectors(instance.organisation_id))
    try:
        fired = run.fire_timers(now)
    except EngineError as exc:
        log.warning("timer on %s failed: %s", instance.business_key, exc)
        raise
    if not fired:
        # The row said due but the engine does not (stale row, or a clock ahead of the engine's due time):
        # rebuild the instance's rows from the engine so the real timer is kept, not lost with the claim.
        db.session.execute(delete(DueTimer).where(DueTimer.instance_id == instance.id, DueTimer.fired_at == now))
        db.session.flush()
        sync(instance, run, force=True)
        return []
    append_event(instance, "timers_fired", data={"elements": fired, "now": now.isoformat()})
    instances._finish(instance, run, None, None, 0)
    return fired


def due_rows(now: datetime, limit: int = 1000) -> list[tuple[int, int]]:
    """(row id, instance id) of unfired timers due at `now`, soonest first (an index range scan)."""
    return list(db.session.execute(
        select(DueTimer.id, DueTimer.instance_id).where(DueTimer.fired.is_(False), DueTimer.due_at <= now)
        .order_by(DueTimer.due_at).limit(limit)).all())


def lock_instance(instance_id: int) -> None:
    """Lock the instance row before touching its timers (PostgreSQL; a no-op on SQLite).

    A user action updates the instance and then its timer rows; the sweep takes the same order, so the two
    never deadlock: one waits, and the loser gets the optimistic-lock conflict.
    """
    db.session.execute(select(ProcessInstance.id).where(ProcessInstance.id == instance_id).with_for_update())


def claim(row_id: int, now: datetime) -> bool:
    """Mark one due row fired; False when another worker got it first."""
    result = db.session.execute(update(DueTimer).where(DueTimer.id == row_id, DueTimer.fired.is_(False))
                                .values(fired=True, fired_at=now))
    return result.rowcount == 1


def purge_fired(before: datetime) -> int:
    """Delete fired rows older than `before` (housekeeping)."""
    result = db.session.execute(delete(DueTimer).where(DueTimer.fired.is_(True), DueTimer.fired_at < before))
    return result.rowcount or 0
