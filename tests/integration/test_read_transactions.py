"""Read requests end their transaction with COMMIT (psycopg keeps its prepared statements); writes never do."""
from __future__ import annotations

import pytest
from flask import Blueprint
from sqlalchemy import event, func, insert, select, text

from app.extensions import db
from app.models import Event, ProcessInstance
from tests.conftest import DEMO_PASSWORD
from tests.integration.helpers import app_on, fresh_pg_app, pg_url


def _watch(app) -> tuple[list[str], callable]:  # noqa: ANN001
    """Record begin/commit/rollback on the app's engine; returns the record and a function that stops it."""
    with app.app_context():
        engine = db.engine
    seen: list[str] = []
    def recorder(name: str):  # noqa: ANN202
        return lambda *_args: seen.append(name)

    listeners = {name: recorder(name) for name in ("begin", "commit", "rollback")}
    for name, fn in listeners.items():
        event.listen(engine, name, fn)

    def stop() -> None:
        for name, fn in listeners.items():
            event.remove(engine, name, fn)

    return seen, stop


def _token(client) -> dict:  # noqa: ANN001
    token = client.post("/api/v1/auth/token", json={"username": "desk", "password": DEMO_PASSWORD}).json["token"]
    return {"Authorization": f"Bearer {token}"}


def _app_with_a_writing_get(url: str):  # noqa: ANN202
    """An app with one misbehaving GET route that writes and does not commit (what must never be kept)."""
    app = app_on(url)
    bp = Blueprint("writes_on_get", __name__)

    @bp.route("/test/writes-on-get")
    def writes_on_get():  # noqa: ANN202
        instance_id = db.session.scalar(select(ProcessInstance.id).limit(1))
        db.session.execute(insert(Event).values(instance_id=instance_id, seq=999_999, type="forged",
                                                data={}, prev_hash="0" * 64, hash="0" * 64))
        return "written, not committed"

    app.register_blueprint(bp)
    return app


def test_a_read_request_commits_and_a_write_in_a_read_request_is_rolled_back(tmp_path):
    app = _app_with_a_writing_get(f"sqlite:///{tmp_path / 'reads.sqlite3'}")
    client = app.test_client()
    headers = _token(client)
    assert client.post("/api/v1/processes/incident/instances", json={"data": {
        "reporter_name": "张三", "reporter_contact": "1", "channel": "phone", "symptoms": "x", "impact": "low",
        "urgency": "low", "category": "database"}}, headers=headers).status_code == 201
    seen, stop = _watch(app)
    try:
        assert client.get("/api/v1/tasks", headers=headers).status_code == 200
        assert seen == ["begin", "commit"]
        seen.clear()
        assert client.get("/test/writes-on-get").status_code == 200
        assert seen == ["begin", "rollback"]
        seen.clear()
        assert client.get("/api/v1/tasks/999999", headers=headers).status_code == 404
        assert seen[-1] == "commit"  # a refused read wrote nothing either
    finally:
        stop()
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Event).where(Event.type == "forged")) == 0
        db.session.remove()
        db.engine.dispose()


@pytest.mark.skipif(pg_url() is None, reason="runs in the PostgreSQL pass (TEST_DATABASE_URL=postgresql...)")
def test_postgresql_keeps_prepared_statements_across_read_requests():
    app = fresh_pg_app("itsm_test_prepared", SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})
    client = app.test_client()
    headers = _token(client)
    try:
        for _ in range(8):  # psycopg prepares a statement on its 6th run on one connection
            assert client.get("/api/v1/tasks?process_id=incident", headers=headers).status_code == 200
        with app.app_context():
            prepared = db.session.scalars(text("SELECT statement FROM pg_prepared_statements")).all()
            db.session.rollback()
        # The token check and the task list were each prepared once and kept, not forgotten per request.
        assert any("FROM human_task" in s for s in prepared), prepared
        assert any('FROM "user"' in s for s in prepared), prepared
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_prepared_statements_can_be_turned_off_for_pgbouncer():
    from app.config import engine_options

    pg = "postgresql+psycopg://u@h/db"
    off = {"SQLALCHEMY_DATABASE_URI": pg, "DATABASE_PREPARED_STATEMENTS": False,
           "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True}}
    assert engine_options(off) == {"pool_pre_ping": True, "connect_args": {"prepare_threshold": None}}
    assert engine_options({**off, "DATABASE_PREPARED_STATEMENTS": True}) == {"pool_pre_ping": True}
    # Only psycopg knows the setting; SQLite's driver would refuse it. An in-process SQLite file needs no ping.
    assert engine_options({**off, "SQLALCHEMY_DATABASE_URI": "sqlite://"}) == {}


@pytest.mark.skipif(pg_url() is None, reason="runs in the PostgreSQL pass (TEST_DATABASE_URL=postgresql...)")
def test_postgresql_without_prepared_statements_prepares_nothing():
    app = fresh_pg_app("itsm_test_unprepared", DATABASE_PREPARED_STATEMENTS=False,
                       SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1, "max_overflow": 0})
    client = app.test_client()
    headers = _token(client)
    try:
        for _ in range(8):
            assert client.get("/api/v1/tasks?process_id=incident", headers=headers).status_code == 200
        with app.app_context():
            assert db.session.scalars(text("SELECT statement FROM pg_prepared_statements")).all() == []
            db.session.rollback()
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
