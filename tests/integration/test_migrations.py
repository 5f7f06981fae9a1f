"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
from __future__ import annotations

import os

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db


def _database_url(tmp_path) -> str:
    url = os.environ.get("TEST_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        return f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
    import psycopg

    admin = make_url(url).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS itsm_test_migrations WITH (FORCE)")
        conn.execute("CREATE DATABASE itsm_test_migrations")
    return make_url(url).set(database="itsm_test_migrations").render_as_string(hide_password=False)


def test_upgrade_matches_models(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": _database_url(tmp_path), "TESTING": True})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        db.engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
