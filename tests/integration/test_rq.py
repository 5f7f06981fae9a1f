"""The outbox on the real Redis (database 15) with rq workers in-process: jobs survive Redis being down,
are sent when it is back, run once, and two workers do not double an escalation."""
from __future__ import annotations

import os
from datetime import timedelta

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import select

from app.jobs import run_job
from app.models import Event, Notification, OutboxJob
from app.services import outbox
from tests.integration.helpers import fresh_pg_app, incident_waiting_on_escalation, pg_url
from tests.integration.test_timers import rows, slow_incident

REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"
CLOSED_PORT_URL = "redis://127.0.0.1:1/15"  # nothing listens on port 1


@pytest.fixture
def redis_db():
    connection = Redis.from_url(REDIS_URL)
    assert connection.connection_pool.connection_kwargs.get("db") == 15, "tests use Redis database 15 only"
    connection.flushdb()
    yield connection
    connection.flushdb()


def _escalations(db, instance) -> int:
    return len([e for e in db.session.scalars(select(Event).where(Event.instance_id == instance.id))
                if e.type == "escalation_notified"])


def test_in_process_without_redis(app, db, user, monkeypatch):
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    instance = slow_incident(db, user)
    (row,) = rows(db, instance)
    job = outbox.enqueue("timers.fire", instance_id=instance.id, now=(row.due_at + timedelta(seconds=1)).isoformat())
    db.session.commit()
    assert outbox.dispatch() == {"pending": 1, "sent": 0, "ran": 1, "kept": 0}
    assert db.session.get(OutboxJob, job.id).done_at is not None
    assert run_job(job.id) is False  # idempotent: a second run does nothing
    assert outbox.dispatch()["pending"] == 0
    assert _escalations(db, instance) == 1


def test_redis_down_keeps_the_job_until_it_is_back(app, db, user, monkeypatch, redis_db):
    instance = slow_incident(db, user)
    (row,) = rows(db, instance)
    job = outbox.enqueue("timers.fire", instance_id=instance.id, now=(row.due_at + timedelta(seconds=1)).isoformat())
    db.session.commit()  # the action commits although Redis is down
    monkeypatch.setitem(app.config, "REDIS_URL", CLOSED_PORT_URL)
    counts = outbox.dispatch()
    assert counts["kept"] == 1 and counts["sent"] == 0
    assert db.session.get(OutboxJob, job.id).dispatched_at is None
    assert _escalations(db, instance) == 0

    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    assert outbox.dispatch()["sent"] == 1
    assert outbox.dispatch()["pending"] == 0  # sent once only
    queue = Queue(outbox.QUEUE, connection=redis_db)
    assert queue.count == 1
    SimpleWorker([queue], connection=redis_db).work(burst=True)
    assert queue.count == 0
    db.session.expire_all()
    assert db.session.get(OutboxJob, job.id).done_at is not None
    assert _escalations(db, instance) == 1


def test_two_workers_do_not_double_the_escalation(app, db, user, monkeypatch, redis_db):
    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    instance = slow_incident(db, user)
    (row,) = rows(db, instance)
    due = (row.due_at + timedelta(seconds=1)).isoformat()
    # Two sweeps and a direct firing, all enqueued: whichever worker runs first fires, the others find nothing.
    for _ in range(2):
        outbox.enqueue("timers.sweep", now=due)
    outbox.enqueue("timers.fire", instance_id=instance.id, now=due)
    db.session.commit()
    assert outbox.dispatch()["sent"] == 3
    queue = Queue(outbox.QUEUE, connection=redis_db)
    first, second = (SimpleWorker([queue], connection=redis_db, name=f"w{i}") for i in (1, 2))
    first.work(burst=True, max_jobs=1)
    second.work(burst=True)
    assert queue.count == 0 and len(queue.failed_job_registry) == 0
    db.session.expire_all()
    assert _escalations(db, instance) == 1
    notes = db.session.scalars(select(Notification).where(Notification.instance_id == instance.id)).all()
    assert len(notes) == 1


def test_cron_scheduler_enqueues_the_periodic_jobs_and_a_worker_runs_them(app, db, user, monkeypatch, redis_db):
    """rq's cron scheduler loads app/jobs/cron_config.py; its first round enqueues every periodic job."""
    from rq.cron import CronScheduler

    monkeypatch.setitem(app.config, "REDIS_URL", REDIS_URL)
    instance = slow_incident(db, user)
    scheduler = CronScheduler(connection=redis_db)
    scheduler.load_config_from_file("app/jobs/cron_config.py")
    names = sorted(job.args[0] for job in scheduler.get_jobs())
    assert names == ["mail.poll", "outbox.dispatch", "schedules.start", "sla.reports", "sla.sweep",
                     "timers.sweep", "vendors.reminders"]
    scheduler.enqueue_jobs()
    queue = Queue(outbox.QUEUE, connection=redis_db)
    assert queue.count == 5  # the monthly report waits for the 1st, the contract reminders for 01:00
    SimpleWorker([queue], connection=redis_db).work(burst=True)
    assert len(queue.failed_job_registry) == 0
    db.session.expire_all()
    assert _escalations(db, instance) == 0  # nothing was due yet (real time)


@pytest.mark.postgres
@pytest.mark.skipif(pg_url() is None, reason="runs in the PostgreSQL pass (TEST_DATABASE_URL=postgresql...)")
def test_two_rq_worker_processes_fire_the_escalation_once(redis_db):
    """Real concurrency: two `rq worker --burst` processes on PostgreSQL race for the same due timer."""
    import subprocess
    import sys

    from app.extensions import db as real_db

    app = fresh_pg_app("itsm_test_timers", REDIS_URL=REDIS_URL)
    db_url = app.config["SQLALCHEMY_DATABASE_URI"]
    with app.app_context():
        instance_id, row = incident_waiting_on_escalation()
        due = (row.due_at + timedelta(seconds=1)).isoformat()
        for _ in range(3):
            outbox.enqueue("timers.sweep", now=due)
            outbox.enqueue("timers.fire", instance_id=instance_id, now=due)
        real_db.session.commit()
        assert outbox.dispatch()["sent"] == 6
        real_db.session.remove()
    env = {**os.environ, "APP_ENV": "testing", "TEST_DATABASE_URL": db_url, "TEST_REDIS_URL": REDIS_URL}
    command = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", REDIS_URL, outbox.QUEUE]
    workers = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for _ in range(2)]
    outputs = [w.communicate(timeout=120)[0].decode(errors="replace") for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    with app.app_context():
        events = real_db.session.scalars(select(Event).where(Event.instance_id == instance_id)).all()
        assert [e.type for e in events].count("escalation_notified") == 1, outputs
        assert [e.type for e in events].count("timers_fired") == 1
        notes = real_db.session.scalars(select(Notification).where(Notification.instance_id == instance_id)).all()
        assert len(notes) == 1
        # Every timer job ran (follow-up jobs the escalation itself queued, such as its e-mails, may still be
        # on their way to a worker when the burst workers exit).
        assert real_db.session.scalar(select(OutboxJob.id).where(
            OutboxJob.done_at.is_(None), OutboxJob.name.in_(["timers.sweep", "timers.fire"]))) is None, outputs
        real_db.session.remove()


@pytest.mark.postgres
@pytest.mark.skipif(pg_url() is None, reason="runs in the PostgreSQL pass (TEST_DATABASE_URL=postgresql...)")
def test_a_worker_killed_mid_job_leaves_the_timer_to_the_next_one(redis_db):
    """A worker killed while firing (after taking the instance lock, blocked on claiming the timer row) loses
    its whole transaction; a restarted worker fires the timer exactly once."""
    import signal
    import subprocess
    import sys
    import time

    import psycopg
    from sqlalchemy.engine import make_url

    from app.extensions import db as real_db
    from app.models import DueTimer

    app = fresh_pg_app("itsm_test_kill", REDIS_URL=REDIS_URL)
    db_url = app.config["SQLALCHEMY_DATABASE_URI"]
    admin = make_url(db_url).set(drivername="postgresql", database="postgres")
    with app.app_context():
        instance_id, row = incident_waiting_on_escalation()
        row_id = row.id
        due = (row.due_at + timedelta(seconds=1)).isoformat()
        outbox.enqueue("timers.fire", instance_id=instance_id, now=due)
        real_db.session.commit()
        assert outbox.dispatch()["sent"] == 1
        real_db.session.remove()

    env = {**os.environ, "APP_ENV": "testing", "TEST_DATABASE_URL": db_url, "TEST_REDIS_URL": REDIS_URL}
    command = [sys.executable, "-m", "rq.cli", "worker", "--burst", "--url", REDIS_URL, outbox.QUEUE]
    with psycopg.connect(make_url(db_url).set(drivername="postgresql").render_as_string(hide_password=False)) as hold:
        # Hold the timer row: the worker takes the instance lock, then blocks on its claim, mid-job.
        hold.execute("SELECT id FROM due_timer WHERE id = %s FOR UPDATE", (row_id,))
        victim = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        waiting = 0
        # Watch from another connection: statistics views are a snapshot per transaction.
        with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as watch:
            while time.monotonic() < deadline and not waiting:
                waiting = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = 'itsm_test_kill'"
                    " AND wait_event_type = 'Lock'").fetchone()[0]
                time.sleep(0.2)
        assert waiting, "the worker never reached the claim"
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=30)
        hold.rollback()
    # The killed worker's job is lost with its process; the job is enqueued again, as the outbox's safety
    # net (or an operator requeueing failed jobs) does, and a fresh worker runs it.
    with app.app_context():
        assert real_db.session.get(DueTimer, row_id).fired is False  # the kill rolled the claim back
        outbox.enqueue("timers.fire", instance_id=instance_id, now=due)
        real_db.session.commit()
        outbox.dispatch()
        real_db.session.remove()
    restarted = subprocess.run(command, env=env, capture_output=True, timeout=120)
    assert restarted.returncode == 0, restarted.stdout.decode(errors="replace")
    with app.app_context():
        events = real_db.session.scalars(select(Event).where(Event.instance_id == instance_id)).all()
        assert [e.type for e in events].count("timers_fired") == 1
        assert [e.type for e in events].count("escalation_notified") == 1
        assert real_db.session.get(DueTimer, row_id).fired is True
        real_db.session.remove()
        real_db.engine.dispose()
