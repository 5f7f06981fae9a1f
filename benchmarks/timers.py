"""Due-timer sweep: selecting and claiming the due rows among many waiting timers.

    python benchmarks/timers.py [--waiting 100000] [--due 100] [--db sqlite|URL]

Fills the due_timer table with `--waiting` rows of which `--due` are due, then times what every sweep round
does before it fires anything: the indexed selection of due rows (fired = false AND due_at <= now) and the
claim of each (UPDATE ... WHERE fired = false). Target: under 100 ms. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select  # noqa: E402

from app import create_app  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import DueTimer, User  # noqa: E402
from app.models.base import utcnow  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--waiting", type=int, default=100_000)
    parser.add_argument("--due", type=int, default=100)
    parser.add_argument("--db", default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = tempfile.mkdtemp(prefix="itsm-bench-timers-")
    url = f"sqlite:///{tmp}/bench.sqlite3" if args.db == "sqlite" else args.db
    os.environ.setdefault("APP_ENV", "testing")
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "WTF_CSRF_ENABLED": False})
    from app.services import incident, timers
    from app.services.definitions import deploy_directories
    from app.services.demo import seed_demo

    with app.app_context():
        db.drop_all()
        db.create_all()
        seed_demo("bench-pass")
        deploy_directories(app.config["BPMN_DIR"], app.config["DMN_DIR"], app.config["FORMS_DIR"])
        db.session.commit()
        reporter = db.session.scalar(select(User).where(User.username == "reporter"))
        from tests.support import start_data

        instances = [incident.report_fault(reporter, start_data()) for _ in range(10)]
        db.session.commit()
        ids = [i.id for i in instances]
        now = utcnow()
        t0 = time.perf_counter()
        rows = []
        for n in range(args.waiting):
            due = now - timedelta(minutes=n + 1) if n < args.due else now + timedelta(minutes=n + 1)
            rows.append({"instance_id": ids[n % len(ids)], "element_id": f"timer_{n}", "due_at": due,
                         "fired": False})
            if len(rows) == 10_000:
                db.session.execute(insert(DueTimer), rows)
                rows = []
        if rows:
            db.session.execute(insert(DueTimer), rows)
        db.session.commit()
        fill = time.perf_counter() - t0
        print(f"database: {db.engine.url.get_backend_name()}; {args.waiting} waiting timers, {args.due} due "
              f"(filled in {fill:.1f} s)")
        for r in range(args.rounds):
            t1 = time.perf_counter()
            due = timers.due_rows(now)
            t2 = time.perf_counter()
            claimed = sum(timers.claim(row_id, now) for row_id, _ in due)
            t3 = time.perf_counter()
            db.session.rollback()  # keep the rows due for the next round
            print(f"round {r + 1}: select {len(due)} due rows {1000 * (t2 - t1):.1f} ms, claim {claimed} "
                  f"{1000 * (t3 - t2):.1f} ms, total {1000 * (t3 - t1):.1f} ms (target < 100 ms)")


if __name__ == "__main__":
    main()
