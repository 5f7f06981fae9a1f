"""Stale writes are refused: optimistic locking on the instance, and real concurrency on PostgreSQL."""
from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import func, select

from app.extensions import db
from app.models import Event, HumanTask, ProcessInstance, User
from app.services import incident, instances
from app.services.errors import Conflict
from tests.conftest import DEMO_PASSWORD
from tests.integration.helpers import app_on, form_post, fresh_pg_app, pg_url
from tests.support import record, start_data


def test_stale_instance_write_is_refused(db, user):
    """Two sessions load the same instance; the one that writes second gets a conflict."""
    desk = user("desk")
    instance = incident.record_incident(desk, start_data())
    db.session.flush()
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == instance.id))
    # Simulate another writer that committed since we read the instance: bump its version underneath us.
    db.session.execute(ProcessInstance.__table__.update().where(ProcessInstance.id == instance.id)
                       .values(lock_version=ProcessInstance.lock_version + 1))
    with pytest.raises(Conflict):
        instances.complete_task(task.id, desk, record())


def _app_for(database: str, tmp_path):  # noqa: ANN001, ANN202
    if database == "postgresql":
        if pg_url() is None:
            pytest.skip("runs in the PostgreSQL pass (TEST_DATABASE_URL=postgresql...)")
        return fresh_pg_app("itsm_test_concurrency")
    return app_on(f"sqlite:///{tmp_path / 'concurrent.sqlite3'}")


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_two_concurrent_completions_exactly_one_wins(database, tmp_path):
    """Two workers complete one task at once: the first commits, the second's write, built on what it read
    before the first committed, is refused as a conflict. PostgreSQL: the second blocks on the instance's row
    lock. SQLite: the second's reads do not wait (WAL snapshot); its first write waits for the first writer's
    lock, and then its version check fails."""
    app = _app_for(database, tmp_path)
    with app.app_context():
        desk = db.session.scalar(select(User).where(User.username == "desk"))
        instance = incident.record_incident(desk, start_data())
        db.session.commit()
        task_id = db.session.scalar(select(HumanTask.id).where(HumanTask.instance_id == instance.id))
        instance_id = instance.id
        db.session.remove()

    first_flushed, release_first = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def first() -> None:
        with app.app_context():
            actor = db.session.scalar(select(User).where(User.username == "desk"))
            try:
                instances.complete_task(task_id, actor, record())
                first_flushed.set()
                release_first.wait(10)
                db.session.commit()
                results["first"] = "ok"
            except Exception as exc:  # noqa: BLE001
                first_flushed.set()
                results["first"] = exc
                db.session.rollback()

    def second() -> None:
        first_flushed.wait(10)
        with app.app_context():
            actor = db.session.scalar(select(User).where(User.username == "desk_call"))
            try:
                # Reads the instance as it was (the first writer has not committed), then blocks at its first
                # write (PostgreSQL: the row lock; SQLite: the write lock); once the first commits, the
                # version check fails.
                instances.complete_task(task_id, actor, record(symptoms="second writer"))
                db.session.commit()
                results["second"] = "ok"
            except Exception as exc:  # noqa: BLE001
                results["second"] = exc
                db.session.rollback()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_flushed.wait(10)
    time.sleep(0.5)  # let the second writer reach its blocked UPDATE
    release_first.set()
    for t in threads:
        t.join(20)

    assert results["first"] == "ok"
    assert isinstance(results["second"], Conflict), results["second"]
    with app.app_context():
        instance = db.session.get(ProcessInstance, instance_id)
        completions = db.session.scalars(select(Event).where(
            Event.instance_id == instance_id, Event.type == "task_completed")).all()
        assert len(completions) == 1 and completions[0].actor.username == "desk"
        assert instance.lock_version == 2
        db.session.remove()
        db.engine.dispose()


Step = Callable[[], object] | None


def _record_incident_as(app: Flask, username: str, results: dict, *, after_read: Step = None,
                        after_flush: Step = None, done: Step = None) -> None:
    """One writer thread: read the user (the transaction begins), record an incident, flush, commit; the result
    (business key or exception) goes to results[username]. The callables let a test interleave two writers."""
    with app.app_context():
        try:
            actor = db.session.scalar(select(User).where(User.username == username))
            if after_read:
                after_read()
            results[username] = incident.record_incident(actor, start_data()).business_key
            db.session.flush()  # written, not committed: from here the write lock is held
            if after_flush:
                after_flush()
            db.session.commit()
        except Exception as exc:  # noqa: BLE001
            results[username] = exc
            db.session.rollback()
        finally:
            db.session.remove()
            if done:
                done()


def _both_landed(app: Flask, results: dict, *threads: threading.Thread) -> None:
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert isinstance(results["desk"], str), results["desk"]
    assert isinstance(results["desk_call"], str), results["desk_call"]
    assert results["desk"] != results["desk_call"]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 2
        db.session.remove()
        db.engine.dispose()


def test_sqlite_a_writer_reads_without_the_write_lock(tmp_path):
    """Embedded SQLite (WAL): a writer holds the database's one write lock only from its first write.

    The first transaction reads (as a request does through its token check, loads and engine run) and then
    waits until the second has written and committed: had the first taken the write lock when it began, the
    second would wait out the busy timeout and fail with "database is locked". The first's snapshot is stale by
    the time it writes; upgrading it in place would fail at once with "database is locked" (the busy timeout
    does not apply), so its first write ends the snapshot and takes the lock, and both land.
    """
    app = app_on(f"sqlite:///{tmp_path / 'concurrent.sqlite3'}")
    first_read, second_done = threading.Event(), threading.Event()
    results: dict[str, object] = {}

    def after_first_read() -> None:
        first_read.set()
        results["first waited"] = second_done.wait(10)

    def second() -> None:
        first_read.wait(10)
        _record_incident_as(app, "desk_call", results, done=second_done.set)

    _both_landed(app, results, threading.Thread(target=_record_incident_as, args=(app, "desk", results),
                                                kwargs={"after_read": after_first_read}),
                 threading.Thread(target=second))
    assert results["first waited"] is True


def test_sqlite_writers_wait_for_each_other_instead_of_failing(tmp_path):
    """Embedded SQLite (WAL): a writer that reaches its first write while another holds the write lock waits
    for it (up to the busy timeout) instead of failing, and both land."""
    app = app_on(f"sqlite:///{tmp_path / 'concurrent.sqlite3'}")
    holding = threading.Event()
    results: dict[str, object] = {}

    def hold() -> None:
        holding.set()
        time.sleep(0.5)  # the second writer is now waiting for the lock

    def second() -> None:
        holding.wait(10)
        _record_incident_as(app, "desk_call", results)

    _both_landed(app, results, threading.Thread(target=_record_incident_as, args=(app, "desk", results),
                                                kwargs={"after_flush": hold, "done": holding.set}),
                 threading.Thread(target=second))


def test_sqlite_reads_do_not_wait_for_a_writer(tmp_path):
    """A GET while another transaction holds the write lock answers at once (reads stay deferred in WAL)."""
    app = app_on(f"sqlite:///{tmp_path / 'concurrent.sqlite3'}")
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "desk", "password": DEMO_PASSWORD}).get_json()
    holding, release = threading.Event(), threading.Event()

    def writer() -> None:
        with app.app_context():
            desk = db.session.scalar(select(User).where(User.username == "desk"))
            incident.record_incident(desk, start_data())
            db.session.flush()  # written, not committed: the write lock is held
            holding.set()
            release.wait(10)
            db.session.rollback()
            db.session.remove()

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert holding.wait(10)
        # Were reads to take the write lock too, this would wait out the busy timeout and fail (500).
        r = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token['token']}"})
    finally:
        release.set()
        t.join(10)
    assert r.status_code == 200, r.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


def test_sqlite_a_writer_that_waits_out_the_busy_timeout_is_answered_503_and_nothing_is_saved(tmp_path):
    """Another connection holds the write lock longer than the busy timeout: the API answers 503 with
    Retry-After and a JSON error, the page 503 with the message; nothing is saved, and the same request
    succeeds once the lock is free."""
    path = tmp_path / "busy.sqlite3"
    app = app_on(f"sqlite:///{path}", SQLITE_BUSY_TIMEOUT_MS=200)
    api = app.test_client()
    token = api.post("/api/v1/auth/token", json={"username": "desk", "password": DEMO_PASSWORD}).get_json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    web = app.test_client()
    assert web.post("/login", data={"username": "desk", "password": DEMO_PASSWORD}).status_code == 302
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = api.post("/api/v1/processes/incident/instances", json={"data": start_data()}, headers=headers)
        page = web.post("/incidents/record?lang=en", data=form_post(start_data()))
    finally:
        holder.rollback()
        holder.close()
    assert started.status_code == 503, started.get_data(as_text=True)
    assert started.headers["Retry-After"] == "2"
    assert started.get_json()["error"] == "unavailable"
    assert page.status_code == 503 and page.headers["Retry-After"] == "2"
    assert "nothing was saved" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 0
        assert db.session.scalar(select(func.count()).select_from(Event)) == 0
        db.session.remove()
    again = api.post("/api/v1/processes/incident/instances", json={"data": start_data()}, headers=headers)
    assert again.status_code == 201, again.get_data(as_text=True)
    with app.app_context():
        db.engine.dispose()


@pytest.mark.parametrize("database", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_parallel_wrong_passwords_each_count_towards_the_lock(database, tmp_path):
    """Guessing from several workers at once must not slip past the limit through lost updates."""
    from app.services.accounts import authenticate

    app = _app_for(database, tmp_path)
    app.config["LOGIN_MAX_FAILURES"] = 100
    workers = 4
    start = threading.Barrier(workers)
    errors: list[BaseException] = []

    def guess() -> None:
        try:
            with app.app_context():
                db.session.scalar(select(User.failed_logins).where(User.username == "line1"))  # read, as a request
                start.wait(timeout=10)
                assert authenticate("line1", "wrong", channel="api") is None
                db.session.commit()
                db.session.remove()
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=guess) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    with app.app_context():
        assert db.session.scalar(select(User.failed_logins).where(User.username == "line1")) == workers
        db.session.remove()
        db.engine.dispose()
