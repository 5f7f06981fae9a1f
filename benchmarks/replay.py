#!/usr/bin/env python
"""Replay data and re-execution time for an incident with about 1,000 events.

    python benchmarks/replay.py [--events N] [--db URL] [--repeat K]

Builds one incident on a fresh database (SQLite file by default) that is reopened again and again
(investigate → resolve → user does not confirm → reopen ...) until its log holds N events, then closes
it; then measures, each K times (median printed):

* replay data: app.services.replay.replay_data (read the events, fold them into per-step states);
* re-execution: app.services.replay.reexecute (replay every recorded completion through the recorded
  version in a fresh run, compare each engine event and the final data).

Targets: replay data under 200 ms, re-execution under 1 s. Figures only; nothing asserts a target.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.engine import make_app, setup_database  # noqa: E402
from tests import support  # noqa: E402

TARGET_REPLAY_S = 0.2
TARGET_REEXECUTE_S = 1.0


def build_instance(target_events: int) -> int:
    """One incident whose log holds at least target_events events; returns its id."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import HumanTask, User
    from app.services import incident, instances
    from tests.integration.helpers import worker_for

    def user(name: str) -> User:
        return db.session.scalar(select(User).where(User.username == name))

    def do(instance_id: int, spec_id: str, data: dict[str, Any]) -> Any:
        task = db.session.scalar(select(HumanTask).where(
            HumanTask.instance_id == instance_id, HumanTask.state == "ready", HumanTask.spec_id == spec_id))
        if task is None:
            raise SystemExit(f"no ready task {spec_id}: the lifecycle went wrong, nothing to measure")
        result = instances.complete_task(task.id, user(worker_for(task)), data)
        db.session.commit()
        return result

    instance = incident.record_incident(user("desk"), support.start_data(), requester=user("reporter"))
    db.session.commit()
    iid = instance.id
    do(iid, "detect_and_record", support.record())
    do(iid, "classify_and_first_support", support.desk(False))
    while True:
        do(iid, "investigate_and_diagnose", support.investigate("solved"))
        do(iid, "resolve_and_recover", support.resolve(False))
        current = do(iid, "confirm_resolution", support.confirm(False) if instance.event_seq < target_events
                     else support.confirm(True))
        if current.status != "running" or db.session.scalar(select(HumanTask.id).where(
                HumanTask.instance_id == iid, HumanTask.state == "ready",
                HumanTask.spec_id == "close_incident")):
            break
    do(iid, "close_incident", support.close())
    return iid


def timed(fn: Any, repeat: int) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--db", default=None, help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    url = args.db or f"sqlite:///{tempfile.mkdtemp(prefix='bench-replay-')}/replay.sqlite3"
    app = make_app(url)
    setup_database(app)
    from app.extensions import db
    from app.models import ProcessInstance
    from app.services import replay

    with app.app_context():
        start = time.perf_counter()
        iid = build_instance(args.events)
        built = time.perf_counter() - start
        instance = db.session.get(ProcessInstance, iid)
        print(f"instance {instance.business_key}: {instance.event_seq} events, status {instance.status} "
              f"(built in {built:.1f} s)")

        def replay_fresh() -> dict:
            db.session.expire_all()
            return replay.replay_data(db.session.get(ProcessInstance, iid))

        def reexecute_fresh() -> replay.Reexecution:
            db.session.expire_all()
            return replay.reexecute(db.session.get(ProcessInstance, iid))

        replay_s, data = timed(replay_fresh, args.repeat)
        print(f"replay data:   {replay_s * 1000:8.1f} ms  ({len(data['steps'])} steps)   "
              f"target < {TARGET_REPLAY_S * 1000:.0f} ms  {'ok' if replay_s < TARGET_REPLAY_S else 'MISSED'}")
        reexec_s, result = timed(reexecute_fresh, max(1, args.repeat // 2))
        print(f"re-execution:  {reexec_s * 1000:8.1f} ms  ({result.steps} actions, "
              f"{'consistent' if result.consistent else 'INCONSISTENT: ' + str(result.problem)})   "
              f"target < {TARGET_REEXECUTE_S * 1000:.0f} ms  {'ok' if reexec_s < TARGET_REEXECUTE_S else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
