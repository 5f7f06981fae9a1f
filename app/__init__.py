"""Application factory: binds extensions, blueprints, CLI and error handlers; nothing else."""
from __future__ import annotations

from typing import Any

from flask import Flask

from .config import check_production, config_from_env, engine_options


def create_app(config: dict[str, Any] | type | None = None) -> Flask:
    """Create the Flask application; `config` overrides the environment's configuration."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_from_env())
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    check_production(app.config)
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)

    from . import models  # noqa: F401  (register tables with the metadata)
    from .extensions import babel, csrf, db, login_manager, migrate
    from .i18n import select_locale, select_timezone

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.config.get("MIGRATIONS_DIR", _migrations_dir())))
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=select_timezone)

    from .api import register_api
    from .cli import register_cli
    from .routing import DatabaseInteger
    from .services import change, incident, knowledge, problem  # noqa: F401  (register process hooks)
    from .web import register_web

    app.url_map.converters["int"] = DatabaseInteger  # before any route is added: rules bind it then
    register_api(app)
    register_web(app)  # after the API: its HTTPException handler answers HTML outside /api/
    register_cli(app)
    if app.config.get("TRUSTED_PROXIES"):
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Behind N reverse proxies the client's address is the Nth from the right in X-Forwarded-For (the
        # security log records it); without them the header is the client's own claim and is ignored.
        n = int(app.config["TRUSTED_PROXIES"])
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)  # type: ignore[method-assign]
    _sqlite_pragmas(app)
    _commit_read_only_requests(app)
    return app


def _migrations_dir() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent / "migrations")


def _read_only_request() -> bool:
    from flask import has_request_context, request

    return has_request_context() and request.method in ("GET", "HEAD", "OPTIONS")


_WROTE = "itsm_wrote"
_READ_VERBS = ("SELECT", "BEGIN", "SAVEPOINT", "RELEASE", "PRAGMA", "SHOW")


def _commit_read_only_requests(app: Flask) -> None:
    """End a safe-method request's transaction that wrote nothing with COMMIT instead of ROLLBACK.

    The two are the same for a transaction that only read, but psycopg 3 forgets every prepared statement of
    the connection on ROLLBACK (and deallocates them on the server). Read requests ended in ROLLBACK, so no
    statement ever reached psycopg's prepare threshold and PostgreSQL planned every query afresh: planning the
    inbox query alone cost ~2.5 ms, more than running it. A transaction that wrote anything, and any request
    that failed, still rolls back as before.
    """
    from sqlalchemy import event

    from .extensions import db

    with app.app_context():
        engine = db.engine

    @event.listens_for(engine, "begin")
    def _reset(conn):  # noqa: ANN001
        conn.info[_WROTE] = False

    @event.listens_for(engine, "before_cursor_execute")
    def _note_writes(conn, _cursor, statement, _params, _context, _executemany):  # noqa: ANN001
        if not statement.lstrip()[:9].upper().startswith(_READ_VERBS):
            conn.info[_WROTE] = True

    @app.teardown_request
    def _end_read_transaction(exc: BaseException | None) -> None:
        # Runs before Flask-SQLAlchemy's teardown, which closes the session (rolling back what is left).
        if exc is not None or not _read_only_request():
            return
        session = db.session()
        if not session.in_transaction() or session.new or session.dirty or session.deleted:
            return
        try:
            if not session.connection().info.get(_WROTE, True):
                session.commit()
        except Exception:  # noqa: BLE001 — nothing was written; the session's close rolls back what is left
            session.rollback()


_SNAPSHOT = "itsm_sqlite_snapshot"  # the connection's transaction has only read so far
_SNAPSHOT_VERBS = ("SELECT", "PRAGMA")


def _sqlite_pragmas(app: Flask) -> None:
    """WAL, foreign keys and real transactions for the embedded SQLite database."""
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return
    from sqlalchemy import event

    from .extensions import db

    with app.app_context():
        engine = db.engine

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn, _record):  # noqa: ANN001
            # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINTs; let SQLAlchemy emit
            # BEGIN itself (the documented recipe), so nested transactions and rollbacks are exact.
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if app.config["SQLALCHEMY_DATABASE_URI"] != "sqlite://":
                cur.execute("PRAGMA journal_mode=WAL")
                cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute(f"PRAGMA busy_timeout={int(app.config['SQLITE_BUSY_TIMEOUT_MS'])}")
            cur.close()

        # Every transaction begins deferred and reads from a snapshot without blocking anyone. Its first
        # write (or savepoint) ends that snapshot and takes the write lock: COMMIT (nothing was written yet)
        # then BEGIN IMMEDIATE, which waits for the lock up to the busy timeout. Upgrading the snapshot in
        # place would fail at once with "database is locked" whenever another writer had committed since it
        # began (WAL mode; the busy timeout does not apply), and taking the lock at BEGIN would make every
        # write request hold it through its token check, reads and engine run, so two workers would take
        # turns instead of sharing the two cores. What the transaction read before its first write may have
        # changed meanwhile, as under PostgreSQL's READ COMMITTED: the instance's version column and the
        # event chain's unique (instance, seq) refuse a write built on a stale read (services.instances).
        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # noqa: ANN001
            conn.info[_SNAPSHOT] = False
            conn.exec_driver_sql("BEGIN")
            conn.info[_SNAPSHOT] = True

        @event.listens_for(engine, "before_cursor_execute")
        def _take_write_lock(conn, cursor, statement, _params, _context, _executemany):  # noqa: ANN001
            if conn.info.get(_SNAPSHOT) and not statement.lstrip()[:6].upper().startswith(_SNAPSHOT_VERBS):
                conn.info[_SNAPSHOT] = False
                cursor.execute("COMMIT")
                cursor.execute("BEGIN IMMEDIATE")

        @event.listens_for(engine, "commit")
        @event.listens_for(engine, "rollback")
        def _end(conn):  # noqa: ANN001
            conn.info[_SNAPSHOT] = False
