"""Alembic migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from app import create_app
from app.extensions import db
from tests.integration.helpers import fresh_pg_database, pg_url


def _database_url(tmp_path) -> str:
    if pg_url() is None:
        return f"sqlite:///{tmp_path / 'migrations.sqlite3'}"
    return fresh_pg_database("itsm_test_migrations")


def test_upgrade_matches_models(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": _database_url(tmp_path), "TESTING": True})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
        db.engine.dispose()
    assert diff == [], f"models and migrations differ: {diff}"
