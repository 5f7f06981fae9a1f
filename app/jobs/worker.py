"""Entry points rq workers import: each runs inside an application context."""
from __future__ import annotations

from typing import Any

from flask import Flask, has_app_context

_app: Flask | None = None


def _application() -> Flask:
    global _app
    if _app is None:
        from app import create_app

        _app = create_app()
    return _app


def _in_app(fn: Any, *args: Any) -> Any:
    if has_app_context():  # an in-process (test) worker runs inside the caller's app
        return fn(*args)
    with _application().app_context():
        return fn(*args)


def run_outbox_job(outbox_id: int) -> bool:
    """rq job: run one outbox row (idempotent)."""
    from . import run_job

    return _in_app(run_job, outbox_id)


def periodic(name: str) -> Any:
    """rq cron job: run a periodic job by name (timers.sweep, sla.sweep, schedules.start, sla.report)."""
    from . import jobs

    def call() -> Any:
        from ..extensions import db

        result = jobs()[name]()
        db.session.commit()
        return result

    return _in_app(call)
