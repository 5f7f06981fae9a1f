"""Application factory: binds extensions, blueprints, CLI and error handlers; nothing else."""
from __future__ import annotations

from typing import Any

from flask import Flask

from .config import check_production, config_from_env


def create_app(config: dict[str, Any] | type | None = None) -> Flask:
    """Create the Flask application; `config` overrides the environment's configuration."""
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_object(config_from_env())
    if isinstance(config, dict):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)
    check_production(app.config)

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
    from .services import change, incident, knowledge, problem  # noqa: F401  (register process hooks)
    from .web import register_web

    register_api(app)
    register_web(app)  # after the API: its HTTPException handler answers HTML outside /api/
    register_cli(app)
    _sqlite_pragmas(app)
    return app


def _migrations_dir() -> str:
    from pathlib import Path

    return str(Path(__file__).resolve().parent.parent / "migrations")


def _read_only_request() -> bool:
    from flask import has_request_context, request

    return has_request_context() and request.method in ("GET", "HEAD", "OPTIONS")


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
            cur.execute("PRAGMA busy_timeout=5000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):  # noqa: ANN001
            # A transaction that reads and then writes must take the write lock up front: in WAL mode the
            # upgrade of a read snapshot that another writer has since moved past fails at once with
            # "database is locked" (the busy timeout does not apply), so concurrent workers or threads
            # would lose writes. Safe-method requests only read and stay deferred (they never block).
            conn.exec_driver_sql("BEGIN" if _read_only_request() else "BEGIN IMMEDIATE")
