"""Shared fixtures: a session-wide app with deployed definitions and demo data, per-test rolled-back db."""
from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from app import create_app
from app.config import TestConfig
from app.extensions import db as _db
from app.models import User

DEMO_PASSWORD = TestConfig.DEMO_PASSWORD
TRANSLATIONS = Path(__file__).resolve().parents[1] / "app" / "translations"
# Demo usernames by role, for login_as(role).
ROLE_USERS = {
    "requester": "reporter",
    "service_desk": "desk",
    "desk_call_taking": "desk_call",
    "support_line_1": "line1",
    "support_line_2": "line2",
    "support_line_3": "line3",
    "incident_lead": "incident_lead",
    "auditor": "auditor",
    "administrator": "admin",
    "process_owner": "owner",
    "desk_city": "desk_city",
    "line1_city": "line1_city",
}


def compile_catalogs(directory: Path = TRANSLATIONS) -> list[Path]:
    """Compile each .po whose .mo is missing or stale, like `pybabel compile --use-fuzzy`; return what was written."""
    written = []
    for po_path in sorted(directory.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        with po_path.open("rb") as f:
            catalog = read_po(f, locale=po_path.parent.parent.name)
        # Write beside the target and rename, so parallel workers never read a half-written file.
        tmp = mo_path.with_name(f".{mo_path.name}.{os.getpid()}.tmp")
        with tmp.open("wb") as f:
            write_mo(f, catalog, use_fuzzy=True)
        os.replace(tmp, mo_path)
        written.append(mo_path)
    return written



def pytest_configure(config: pytest.Config) -> None:
    """Compile the UI catalogs before anything renders a page (Flask-Babel caches them per process), so the
    suite works on a fresh clone before `make install` has run `pybabel compile`."""
    compile_catalogs()


class IsolatedClient(FlaskClient):
    """Test client that starts each request with an empty `g`.

    The per-test `db` fixture keeps an app context pushed, and Flask reuses it for requests, so without
    this the user flask-login cached in `g` by one client's request would leak into the next client's.
    """

    def open(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN201
        from flask import g, has_app_context

        if has_app_context():
            for name in list(vars(g)):
                delattr(g, name)
        return super().open(*args, **kwargs)


def _test_config() -> dict:
    return {
        "SQLALCHEMY_DATABASE_URI": os.environ.get("TEST_DATABASE_URL", "sqlite://"),
        "WTF_CSRF_ENABLED": False,
        "SERVER_NAME": "localhost",
    }


def setup_database(app: Flask) -> None:
    """Create tables, demo data and deploy the repository's definitions, committed once."""
    from app.services.definitions import clear_cache, deploy_directories
    from app.services.demo import seed_demo

    with app.app_context():
        _db.drop_all()
        _db.create_all()
        seed_demo(DEMO_PASSWORD)
        deploy_directories(app.config["BPMN_DIR"], app.config["DMN_DIR"], app.config["FORMS_DIR"])
        _db.session.commit()
        clear_cache()


@pytest.fixture(scope="session")
def app() -> Iterator[Flask]:
    os.environ.setdefault("APP_ENV", "testing")
    application = create_app({**{k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()},
                              **_test_config()})
    application.test_client_class = IsolatedClient
    setup_database(application)
    yield application


@pytest.fixture
def db(app: Flask) -> Iterator:
    """A database session whose work is rolled back after the test (commits become savepoints).

    Flask-SQLAlchemy's Session.get_bind() returns the app's engine and ignores a session-level bind, so the
    engine itself is swapped for one connection holding an outer transaction that is rolled back at the end.
    """
    with app.app_context():
        engines = _db.engines
        engine = engines[None]
        connection = engine.connect()
        outer = connection.begin()
        engines[None] = connection
        original = _db.session
        _db.session = _db._make_scoped_session({"join_transaction_mode": "create_savepoint"})
        try:
            yield _db
        finally:
            from app.services import dispatch

            dispatch.forget()  # the process's copy of the dispatch rules may hold this test's rolled-back rows
            _db.session.remove()
            _db.session = original
            engines[None] = engine
            outer.rollback()
            connection.close()


@pytest.fixture
def user(db) -> callable:
    """Look up a demo user by username."""

    def get(username: str) -> User:
        found = db.session.scalar(select(User).where(User.username == username))
        assert found is not None, username
        return found

    return get


@pytest.fixture
def client(app: Flask, db) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def login_as(app: Flask, db, user) -> callable:
    """Factory: a test client logged in as the demo user of a role (or a username)."""

    def make(role: str) -> FlaskClient:
        username = ROLE_USERS.get(role, role)
        u = user(username)
        c = app.test_client()
        with c.session_transaction() as sess:
            sess["_user_id"] = u.get_id()
            sess["_fresh"] = True
        c.user = u  # type: ignore[attr-defined]
        return c

    return make


@pytest.fixture
def api_as(app: Flask, db, user) -> callable:
    """Factory: headers with a bearer token for the demo user of a role."""
    from app.services.identity import issue_token

    def make(role: str) -> dict[str, str]:
        u = user(ROLE_USERS.get(role, role))
        with app.test_request_context():
            return {"Authorization": f"Bearer {issue_token(u)}"}

    return make


@pytest.fixture
def english(db) -> Iterator[None]:
    """Service messages in English for tests that assert their wording (the default UI language is Chinese)."""
    from flask_babel import force_locale

    with force_locale("en"):
        yield
