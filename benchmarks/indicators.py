#!/usr/bin/env python
"""Quality indicators, their trend and incident correlation at scale.

    python benchmarks/indicators.py [--db sqlite|URL] [--incidents 10000] [--changes 500]

Builds, in a fresh database (a temporary SQLite file by default; for PostgreSQL pass a URL such as
postgresql+psycopg://postgres@127.0.0.1:5432/itsm_bench, created with psql when missing):

* --incidents incidents reported in November 2026 across the demo's county and city, in bulk rows shaped as
  the processes leave them: the instance, the incident record (category, priority, status, channel,
  support line, error codes), one affected CI out of 300, a response and a resolution SLA clock (most of
  them stopped, some over target), the user's confirmation event with a satisfaction score, and for the
  cases solved at the desk the 记录服务台解决方案 step event;
* --changes changes with their category and implementation result events.

Then it times, as the national administrator (the widest scope), what the pages and the API call:
`kpi.report` for the month (cold and warm), `kpi.report` for one county, `kpi.trend` over 12 months, and
`correlation.candidates` for the month. It prints milliseconds, SQL statements and the cost per incident.
There is no target in the issue for these; the figures tell whether a national month stays interactive.
"""
from __future__ import annotations

import argparse
import random
import statistics as stats
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.cmdb import in_database, make_app  # noqa: E402

PASSWORD = "bench-pass-2026"
SH = ZoneInfo("Asia/Shanghai")
MONTH_START = datetime(2026, 11, 1, tzinfo=SH)
CATEGORIES = ["hardware", "network", "system_software", "application", "database", "security", "terminal", "other"]


def build(n_incidents: int, n_changes: int, rng: random.Random) -> None:
    """Bulk rows shaped as the processes write them (no engine runs: this measures the reading side)."""
    from sqlalchemy import insert, select

    from app.extensions import db
    from app.models import (
        ConfigurationItem,
        Event,
        Incident,
        IncidentCI,
        Organisation,
        ProcessInstance,
        ProcessVersion,
        SlaClock,
    )
    from app.services import calendar as cal

    orgs = dict(db.session.execute(select(Organisation.code, Organisation.id)).all())
    versions = dict(db.session.execute(select(ProcessVersion.process_id, ProcessVersion.id)).all())
    calendar = cal.default_calendar_spec()
    working = cal.make_calendar(calendar)
    db.session.execute(insert(ConfigurationItem), [
        {"code": f"B-CI-{i:04d}", "name": f"bench CI {i}", "ci_type": "server", "status": "in_use",
         "organisation_id": orgs["county"], "attributes": {}, "controlled": False} for i in range(300)])
    ci_ids = list(db.session.scalars(select(ConfigurationItem.id).where(ConfigurationItem.code.like("B-CI-%"))))
    codes = [f"ERR-{i:03d}" for i in range(200)]
    instances, incidents, links, clocks, events = [], [], [], [], []
    for i in range(n_incidents):
        reported = MONTH_START + timedelta(minutes=rng.randrange(29 * 24 * 60))
        closed = rng.random() < 0.8
        org = orgs["county"] if rng.random() < 0.7 else orgs["city"]
        instances.append({"id": i + 1, "version_id": versions["incident"], "process_id": "incident",
                          "business_key": f"INC-B-{i:06d}", "organisation_id": org, "priority": None,
                          "status": "completed" if closed else "running", "created_at": reported,
                          "updated_at": reported, "completed_at": reported + timedelta(hours=6) if closed else None,
                          "state": b"", "state_format": 1, "lock_version": 1, "event_seq": 3, "event_head": ""})
        incidents.append({"id": i + 1, "instance_id": i + 1, "number": f"INC-B-{i:06d}", "reported_at": reported,
                          "organisation_id": org, "category": rng.choice(CATEGORIES),
                          "priority": rng.choice(["P1", "P2", "P3", "P4"]),
                          "status": "closed" if closed else rng.choice(["recorded", "classified", "escalated"]),
                          "channel": "system" if rng.random() < 0.1 else "phone",
                          "support_line": None if rng.random() < 0.4 else 1, "error_codes": rng.choice(codes),
                          "symptoms": "bench", "reporter_name": "", "reporter_contact": "", "solution": "",
                          "create_problem": False, "rfc_requested": False, "escalation_count": 0,
                          "upward_escalations": 0})
        links.append({"incident_id": i + 1, "ci_id": rng.choice(ci_ids)})
        for kind, target in (("response", 30), ("resolve", 480)):
            # As sla.refresh leaves them: the deadline and the working minutes from the frozen calendar.
            stopped = reported + timedelta(minutes=rng.randint(1, int(target * 3))) if closed else None
            elapsed = cal.elapsed_seconds(working, reported, stopped) // 60 if stopped else 0
            clocks.append({"instance_id": i + 1, "kind": kind, "organisation_id": org,
                           "status": "stopped" if closed else "running", "priority": "P3",
                           "service_class": "application", "target_minutes": target, "warning_share": 0.75,
                           "calendar": calendar, "started_at": reported, "stopped_at": stopped,
                           "deadline_at": cal.deadline(working, reported, target), "elapsed_minutes": elapsed,
                           "history": []})
        if closed:
            events.append({"instance_id": i + 1, "seq": 2, "type": "task_completed", "spec_id": "confirm_resolution",
                           "organisation_id": org, "created_at": reported + timedelta(hours=5),
                           "data": {"form_data": {"confirmed": True, "satisfaction": rng.randint(2, 5)}},
                           "prev_hash": "0" * 64, "hash": "0" * 64})
            if rng.random() < 0.4:
                events.append({"instance_id": i + 1, "seq": 1, "type": "element_completed",
                               "spec_id": "record_desk_solution", "organisation_id": org,
                               "created_at": reported + timedelta(hours=1), "data": {"changes": {}},
                               "prev_hash": "0" * 64, "hash": "0" * 64})
    base = n_incidents
    for j in range(n_changes):
        started = MONTH_START + timedelta(minutes=rng.randrange(28 * 24 * 60))
        iid = base + j + 1
        instances.append({"id": iid, "version_id": versions["change"], "process_id": "change",
                          "business_key": f"CHA-B-{j:06d}", "organisation_id": orgs["county"], "priority": None,
                          "status": "completed", "created_at": started, "updated_at": started,
                          "completed_at": started + timedelta(days=1), "state": b"", "state_format": 1,
                          "lock_version": 1, "event_seq": 3, "event_head": ""})
        events += [
            {"instance_id": iid, "seq": 1, "type": "instance_started", "spec_id": None, "created_at": started,
             "organisation_id": orgs["county"], "data": {"start_data": {"change_type": "normal"}},
             "prev_hash": "0" * 64, "hash": "0" * 64},
            {"instance_id": iid, "seq": 2, "type": "element_completed", "spec_id": "classify_change",
             "created_at": started + timedelta(hours=1), "organisation_id": orgs["county"],
             "data": {"changes": {"change_category": rng.choice(["minor", "standard", "major", "emergency"])}},
             "prev_hash": "0" * 64, "hash": "0" * 64},
            {"instance_id": iid, "seq": 3, "type": "task_completed", "spec_id": "implement_change",
             "created_at": started + timedelta(hours=20), "organisation_id": orgs["county"],
             "data": {"changes": {"implementation_result": "success" if rng.random() < 0.9 else "failed"}},
             "prev_hash": "0" * 64, "hash": "0" * 64}]
    for table, rows in ((ProcessInstance, instances), (Incident, incidents), (IncidentCI, links),
                        (SlaClock, clocks), (Event, events)):
        for k in range(0, len(rows), 5000):
            db.session.execute(insert(table), rows[k:k + 5000])
    db.session.commit()


def timed(fn: Any, repeat: int = 1) -> tuple[float, float, int]:
    """(first call ms, median of the repeats ms, SQL statements of one call)."""
    from sqlalchemy import event

    from app.extensions import db

    count = [0]

    def on_execute(*_args: Any) -> None:
        count[0] += 1

    engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    try:
        t = time.perf_counter()
        fn()
        first = (time.perf_counter() - t) * 1000
        statements = count[0]
        runs = []
        for _ in range(repeat):
            db.session.expire_all()
            t = time.perf_counter()
            fn()
            runs.append((time.perf_counter() - t) * 1000)
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
    return first, stats.median(runs) if runs else first, statements


def run(url: str, args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import User
    from app.services import correlation, kpi
    from app.services.definitions import deploy_directories
    from app.services.demo import seed_demo

    app = make_app(url)
    dialect = url.split(":", 1)[0]
    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_demo(PASSWORD)
        cfg = app.config
        deploy_directories(cfg["BPMN_DIR"], cfg["DMN_DIR"], cfg["FORMS_DIR"], None, "benchmark")
        db.session.commit()
        t0 = time.perf_counter()
        build(args.incidents, args.changes, random.Random(20261126))
        print(f"[{dialect}] built {args.incidents:,} incidents and {args.changes:,} changes "
              f"in {time.perf_counter() - t0:.1f} s")
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        now = datetime(2026, 12, 1, 9, 0, tzinfo=SH)
        rows = [
            ("kpi.report, national, 2026-11", lambda: kpi.report(admin, "mee", period="2026-11", now=now)),
            ("kpi.report, one county alone", lambda: kpi.report(admin, "county", period="2026-11",
                                                                include_below=False, now=now)),
            ("kpi.trend, national, 12 months", lambda: kpi.trend(admin, "mee", months=12, now=now)),
            ("correlation.candidates, 30 days", lambda: correlation.candidates(admin, 30, 3, now=now)),
        ]
        print(f"\n{'call':<36} {'first ms':>10} {'median ms':>10} {'SQL':>6} {'µs/incident':>12}")
        for name, fn in rows:
            first, median, statements = timed(fn, args.repeat)
            print(f"{name:<36} {first:>10.0f} {median:>10.0f} {statements:>6} "
                  f"{1000 * median / max(args.incidents, 1):>12.1f}")
        report = kpi.report(admin, "mee", period="2026-11", now=now)
        shown = {f.indicator.code: f.value for f in report.figures}
        print("\nsanity: incidents counted", shown["incident_count"], "· timely repair", shown["timely_repair_rate"],
              "· satisfaction", shown["satisfaction"], "· change success", shown["change_success_rate"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--incidents", type=int, default=10_000)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    in_database(args.db, "itsm-bench-stats-", lambda url: run(url, args))


if __name__ == "__main__":
    main()
