"""`flask jobs ...`: run the dispatcher and the sweeps by hand or as an in-process loop (no Redis)."""
from __future__ import annotations

import time

import click
from flask.cli import AppGroup

jobs_cli = AppGroup("jobs", help="Outbox dispatch and periodic sweeps.")


@jobs_cli.command("dispatch")
def dispatch_cmd() -> None:
    """Send pending outbox jobs to rq (REDIS_URL) or run them here."""
    from ..services import outbox

    click.echo(outbox.dispatch())


@jobs_cli.command("run")
@click.argument("name")
def run_cmd(name: str) -> None:
    """Run one periodic job now: timers.sweep, sla.sweep or outbox.dispatch."""
    from .worker import periodic

    click.echo(periodic(name))


@jobs_cli.command("loop")
@click.option("--interval", default=10, show_default=True, help="seconds between rounds")
def loop_cmd(interval: int) -> None:
    """Without Redis: dispatch the outbox and run the sweeps forever (what the server thread does)."""
    from .worker import periodic

    while True:
        for name in ("outbox.dispatch", "timers.sweep", "sla.sweep"):
            try:
                periodic(name)
            except Exception as exc:  # noqa: BLE001 - keep looping; the next round retries
                click.echo(f"{name} failed: {exc}", err=True)
        time.sleep(interval)
