"""CSRF on form posts, production start-up checks, login and logout, safe redirects, security headers."""
from __future__ import annotations

import pytest

from app import create_app
from tests.integration.helpers import form_post
from tests.support import start_data


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def test_form_post_without_csrf_token_is_refused(db, login_as, csrf_on):
    from sqlalchemy import func, select

    from app.models import ProcessInstance

    before = db.session.scalar(select(func.count()).select_from(ProcessInstance))
    desk = login_as("service_desk")
    response = desk.post("/incidents/record", data=form_post(start_data()))
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == before


def test_form_post_with_csrf_token_is_accepted(db, login_as, csrf_on):
    import re

    desk = login_as("service_desk")
    page = desk.get("/incidents/record").data.decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = desk.post("/incidents/record", data={**form_post(start_data()), "csrf_token": token})
    assert response.status_code == 302


def test_api_needs_no_csrf_token(client, api_as, csrf_on):
    response = client.post("/api/v1/processes/incident/instances", json={"data": start_data()},
                           headers=api_as("service_desk"))
    assert response.status_code == 201


def test_production_refuses_default_secret(monkeypatch):
    monkeypatch.setenv("APP_ENV", "production")
    db_url = {"SQLALCHEMY_DATABASE_URI": "sqlite://"}
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({**db_url, "SECRET_KEY": "dev-only-not-secret"})
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({**db_url, "SECRET_KEY": "short"})
    app = create_app({**db_url, "SECRET_KEY": "x" * 40})
    assert app.config["ENV_NAME"] == "production" and app.config["SESSION_COOKIE_SECURE"] is True


def test_login_logout_and_safe_redirect(client, db):
    bad = client.post("/login", data={"username": "desk", "password": "nope"})
    assert bad.status_code == 401
    ok = client.post("/login?next=https://evil.example/steal", data={"username": "desk", "password": "demo-pass-2026"})
    assert ok.status_code == 302 and ok.headers["Location"] in ("/", "http://localhost/")
    assert client.get("/").status_code == 200
    assert client.post("/logout").status_code == 302
    assert client.get("/").status_code == 302


def test_pages_need_login(client, db):
    for path in ("/", "/incidents/report", "/incidents/record", "/tasks/1", "/instances/1"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_security_headers(client, db):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_passwords_are_hashed(user):
    desk = user("desk")
    assert "demo-pass-2026" not in desk.password_hash and desk.password_hash.startswith(("scrypt:", "pbkdf2:"))


def test_record_page_is_for_the_desk_only(login_as):
    assert login_as("requester").get("/incidents/record").status_code == 403
    assert login_as("service_desk").get("/incidents/record").status_code == 200


def test_unknown_page_is_html(login_as):
    response = login_as("service_desk").get("/no/such/page")
    assert response.status_code == 404 and response.mimetype == "text/html"
