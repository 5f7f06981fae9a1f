"""Without Redis: the web server runs the outbox and the periodic sweeps in one background thread.

Started by wsgi.py (the server) on the first request, never in tests, benchmarks or CLI commands, and only
when REDIS_URL is unset and JOBS_IN_PROCESS is on. With Redis, `rq worker` and `rq cron` do this work
instead (README "Background jobs, timers and SLA clocks").
"""
from __future__ import annotations

import logging
import threading
import time

from flask import Flask

log = logging.getLogger(__name__)
PERIODIC = ("outbox.dispatch", "timers.sweep", "sla.sweep", "schedules.start", "vendors.reminders", "mail.poll")


def run_round(app: Flask) -> None:
    """One round of every periodic job, each in its own application context and transaction."""
    from ..extensions import db
    from . import jobs

    for name in PERIODIC:
        with app.app_context():
            try:
                jobs()[name]()
                db.session.commit()
            except Exception:  # noqa: BLE001 - the next round retries
                db.session.rollback()
                log.exception("in-process job %s failed", name)


def init_app(app: Flask, interval: float = 10.0) -> None:
    """Start the background thread with the first request, when configured to."""
    if app.config.get("TESTING") or app.config.get("REDIS_URL") or not app.config.get("JOBS_IN_PROCESS", True):
        return
    started = threading.Event()

    def loop() -> None:
        while True:
            run_round(app)
            time.sleep(interval)

    @app.before_request
    def _start_jobs_thread() -> None:
        if not started.is_set():
            started.set()
            threading.Thread(target=loop, name="itsm-jobs", daemon=True).start()
