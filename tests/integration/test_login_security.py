"""Login failure handling, changing one's password, and the security log that records both."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.models import SecurityEvent
from app.models.base import utcnow
from tests.conftest import DEMO_PASSWORD

NEW_PASSWORD = "new-pass-2026!"


def _log(db, username: str) -> list[str]:
    return list(db.session.scalars(select(SecurityEvent.type).where(SecurityEvent.username == username)
                                   .order_by(SecurityEvent.id)))


def _web_login(client, username: str, password: str):  # noqa: ANN202
    return client.post("/login", data={"username": username, "password": password})


def _api_login(client, username: str, password: str):  # noqa: ANN202
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


@pytest.mark.parametrize("login", [_web_login, _api_login], ids=["web", "api"])
def test_too_many_failures_lock_the_account_even_against_the_right_password(client, db, user, app, login):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert login(client, "desk", "wrong").status_code == 401
    locked = login(client, "desk", DEMO_PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["Retry-After"]) <= app.config["LOGIN_LOCK_MINUTES"] * 60
    if login is _api_login:
        assert locked.json["error"] == "account_locked" and locked.json["retry_after"] > 0
    else:
        assert "锁定" in locked.data.decode()
    assert _log(db, "desk") == ["login_failed"] * limit + ["account_locked", "login_refused"]
    assert user("desk").locked_until is not None
    # The lock ends by itself; then the right password works and the count starts again.
    user("desk").locked_until = utcnow() - timedelta(seconds=1)
    db.session.flush()
    assert login(client, "desk", DEMO_PASSWORD).status_code in (200, 302)
    assert _log(db, "desk")[-1] == "login_succeeded" and user("desk").locked_until is None


def test_a_success_resets_the_count_and_other_accounts_are_untouched(client, db, user, app):
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit - 1):
        assert _web_login(client, "desk", "wrong").status_code == 401
    assert _web_login(client, "desk", DEMO_PASSWORD).status_code == 302
    assert user("desk").failed_logins == 0
    for _ in range(limit - 1):
        assert _api_login(client, "desk", "wrong").status_code == 401
    assert _api_login(client, "desk", DEMO_PASSWORD).status_code == 200
    assert _api_login(client, "line1", DEMO_PASSWORD).status_code == 200


def test_unknown_usernames_cost_a_hash_check_and_are_logged(client, db, monkeypatch):
    from app.services import accounts

    checked = []
    real = accounts.check_password_hash
    monkeypatch.setattr(accounts, "check_password_hash", lambda h, p: checked.append(p) or real(h, p))
    assert _web_login(client, "nobody-here", "guess").status_code == 401
    assert checked == ["guess"]  # as slow as a wrong password for a real user
    event = db.session.scalar(select(SecurityEvent).where(SecurityEvent.username == "nobody-here"))
    assert event.type == "login_failed" and event.user_id is None and event.data["reason"] == "unknown_user"


def test_an_administrator_lifts_a_lock_from_the_command_line(app, db, user):
    user("desk").locked_until = utcnow() + timedelta(minutes=10)
    user("desk").failed_logins = 3
    db.session.flush()
    result = app.test_cli_runner().invoke(args=["unlock-user", "desk"])
    assert result.exit_code == 0, result.output
    assert user("desk").locked_until is None and user("desk").failed_logins == 0
    assert _log(db, "desk")[-1] == "account_unlocked"
    assert app.test_cli_runner().invoke(args=["unlock-user", "nobody-here"]).exit_code != 0


def test_changing_the_password_ends_other_sessions_and_tokens_but_not_this_one(app, client, db, login_as):
    other_session = app.test_client()
    assert _web_login(other_session, "desk", DEMO_PASSWORD).status_code == 302
    token = _api_login(client, "desk", DEMO_PASSWORD).json["token"]
    desk = app.test_client()
    assert _web_login(desk, "desk", DEMO_PASSWORD).status_code == 302
    changed = desk.post("/account/password", data={"current": DEMO_PASSWORD, "new": NEW_PASSWORD,
                                                    "repeated": NEW_PASSWORD})
    assert changed.status_code == 302
    assert desk.get("/").status_code == 200  # this session carries on
    assert other_session.get("/").status_code == 302  # back to the login page
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _api_login(client, "desk", DEMO_PASSWORD).status_code == 401
    assert _api_login(client, "desk", NEW_PASSWORD).status_code == 200
    assert "password_changed" in _log(db, "desk")


@pytest.mark.parametrize(("form", "field"), [
    ({"current": "wrong", "new": NEW_PASSWORD, "repeated": NEW_PASSWORD}, "current"),
    ({"current": DEMO_PASSWORD, "new": "short1!", "repeated": "short1!"}, "new"),
    ({"current": DEMO_PASSWORD, "new": "onlyletterslong", "repeated": "onlyletterslong"}, "new"),
    ({"current": DEMO_PASSWORD, "new": "desk-2026-pass", "repeated": "desk-2026-pass"}, "new"),
    ({"current": DEMO_PASSWORD, "new": DEMO_PASSWORD, "repeated": DEMO_PASSWORD}, "new"),
    ({"current": DEMO_PASSWORD, "new": NEW_PASSWORD, "repeated": NEW_PASSWORD + "x"}, "repeated"),
])
def test_a_refused_change_says_why_beside_the_field_and_changes_nothing(db, login_as, user, form, field):
    desk = login_as("service_desk")
    before = (user("desk").password_hash, user("desk").token_version)
    page = desk.post("/account/password?lang=en", data=form)
    assert page.status_code == 400
    html = page.data.decode()
    assert f'id="{field}-error"' in html and f'id="{field}" name="{field}" type="password"' in html
    assert (user("desk").password_hash, user("desk").token_version) == before
    assert desk.get("/").status_code == 200  # still logged in
    assert _log(db, "desk")[-1] == "password_change_refused"


def test_sessions_from_before_versioned_ids_are_logged_out(app, db, user):
    client = app.test_client()
    with client.session_transaction() as sess:
        sess["_user_id"] = str(user("desk").id)
        sess["_fresh"] = True
    assert client.get("/").status_code == 302


@pytest.mark.parametrize(("role", "status"), [("auditor", 200), ("administrator", 200), ("service_desk", 403),
                                              ("process_owner", 403)])
def test_the_security_log_is_for_auditors_and_administrators(client, db, login_as, role, status):
    _web_login(client, "line1", "wrong")
    page = login_as(role).get("/audit/security?user=line1&type=login_failed&lang=en")
    assert page.status_code == status
    if status == 200:
        html = page.data.decode()
        assert '<tr data-type="login_failed">' in html and "Login failed" in html and "wrong_password" in html


@pytest.mark.parametrize(("proxies", "recorded"), [(0, "127.0.0.1"), (1, "203.0.113.7")])
def test_the_log_records_the_clients_address_behind_trusted_proxies_only(app, db, monkeypatch, proxies, recorded):
    from werkzeug.middleware.proxy_fix import ProxyFix

    from app import create_app
    from app.config import TestConfig

    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    wired = create_app({**config, "TRUSTED_PROXIES": proxies}).wsgi_app
    assert isinstance(wired, ProxyFix) == bool(proxies) and getattr(wired, "x_for", proxies) == proxies
    if proxies:  # the same middleware on the test app, whose database the fixtures hold
        monkeypatch.setattr(app, "wsgi_app", ProxyFix(app.wsgi_app, x_for=proxies))
    response = app.test_client().post("/login", data={"username": "ghost", "password": "x"},
                                      headers={"X-Forwarded-For": "203.0.113.7"},
                                      environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert response.status_code == 401
    event = db.session.scalar(select(SecurityEvent).where(SecurityEvent.username == "ghost"))
    assert event.remote_addr == recorded


def test_a_page_session_unused_for_too_long_ends(app, db, login_as):
    import time

    desk = login_as("service_desk")
    assert desk.get("/").status_code == 200
    with desk.session_transaction() as sess:
        assert abs(sess["seen"] - time.time()) < 5  # the first page started the clock
        sess["seen"] = int(time.time()) - app.config["SESSION_IDLE_MINUTES"] * 60 - 1
    expired = desk.get("/incidents/report")
    assert expired.status_code == 302 and "/login" in expired.headers["Location"]
    assert desk.get("/").status_code == 302  # logged out, not just redirected once
    busy = login_as("service_desk")
    with busy.session_transaction() as sess:
        sess["seen"] = int(time.time()) - app.config["SESSION_IDLE_MINUTES"] * 60 + 30
    assert busy.get("/").status_code == 200  # within the limit: carries on



def test_a_new_login_starts_a_fresh_idle_clock(app, db, client):
    import time

    assert _web_login(client, "desk", DEMO_PASSWORD).status_code == 302
    assert client.get("/").status_code == 200
    stale = int(time.time()) - app.config["SESSION_IDLE_MINUTES"] * 60 - 1
    with client.session_transaction() as sess:
        sess["seen"] = stale
    assert client.post("/logout").status_code == 302
    with client.session_transaction() as sess:
        sess["seen"] = stale  # left over in the cookie from the last session
    assert _web_login(client, "desk", DEMO_PASSWORD).status_code == 302
    assert client.get("/").status_code == 200


def test_an_old_password_must_be_changed_at_the_next_login(app, db, client, user):
    max_age = app.config["PASSWORD_MAX_AGE_DAYS"]
    assert max_age > 0
    desk = user("desk")
    desk.password_changed_at = None  # set before ages were kept (demo users): the first login starts the clock
    db.session.flush()
    assert _web_login(client, "desk", DEMO_PASSWORD).status_code == 302
    assert user("desk").password_changed_at is not None and not user("desk").must_change_password
    user("desk").password_changed_at = utcnow() - timedelta(days=max_age + 1)
    db.session.flush()
    old = client.post("/api/v1/auth/token", json={"username": "desk", "password": DEMO_PASSWORD})
    assert old.status_code == 403 and old.json["error"] == "password_change_required"
    assert _log(db, "desk")[-2:] == ["login_succeeded", "password_expired"]
    page = client.get("/")
    assert page.status_code == 302 and page.headers["Location"].endswith("/account/password")
    assert client.post("/account/password", data={"current": DEMO_PASSWORD, "new": NEW_PASSWORD,
                                                  "repeated": NEW_PASSWORD}).status_code == 302
    assert client.get("/").status_code == 200
    assert (utcnow() - user("desk").password_changed_at).total_seconds() < 60


@pytest.mark.parametrize(("role", "status"), [("auditor", 200), ("administrator", 200), ("service_desk", 403)])
def test_the_security_log_over_the_api(client, db, api_as, role, status):
    _api_login(client, "line1", "wrong")
    headers = api_as(role)
    answer = client.get("/api/v1/audit/security-events?username=line1&type=login_failed&per_page=1",
                        headers=headers)
    assert answer.status_code == status, answer.json
    if status == 200:
        (event,) = answer.json["items"]
        assert event["type"] == "login_failed" and event["username"] == "line1"
        assert event["data"] == {"channel": "api", "reason": "wrong_password", "failures": 1}
        assert answer.json["page"] == 1 and answer.json["has_next"] is False


# --- one address failing across many accounts (password spraying) -------------------------------------

def _from(client, address: str, username: str, password: str, api: bool = False):  # noqa: ANN202
    if api:
        return client.post("/api/v1/auth/token", json={"username": username, "password": password},
                           environ_base={"REMOTE_ADDR": address})
    return client.post("/login", data={"username": username, "password": password},
                       environ_base={"REMOTE_ADDR": address})


@pytest.mark.parametrize("api", [False, True], ids=["web", "api"])
def test_an_address_failing_across_many_accounts_is_refused_for_a_while(client, db, user, app, monkeypatch, api):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 4)
    # One guess per account (no account reaches its own lock), unknown names included.
    for name in ("desk", "line1", "line2", "ghost-user"):
        assert _from(client, "198.51.100.9", name, "Summer2026!", api).status_code == 401
    refused = _from(client, "198.51.100.9", "line3", DEMO_PASSWORD, api)  # even the right password
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= app.config["LOGIN_LOCK_MINUTES"] * 60
    if api:
        assert refused.json["error"] == "too_many_attempts"
    else:
        assert "网络地址" in refused.data.decode()
    assert _log(db, "line3") == ["login_throttled"] and user("line3").failed_logins == 0
    # Another address is not affected, nor are the accounts themselves.
    assert _from(client, "198.51.100.10", "line3", DEMO_PASSWORD, api).status_code in (200, 302)
    assert all(user(n).locked_until is None for n in ("desk", "line1", "line2"))


def test_the_address_is_free_again_when_its_failures_leave_the_window(client, db, app, monkeypatch):
    from sqlalchemy import update

    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 3)
    for name in ("desk", "line1", "line2"):
        _from(client, "198.51.100.9", name, "guess")
    assert _from(client, "198.51.100.9", "line3", DEMO_PASSWORD).status_code == 429
    window = timedelta(minutes=app.config["LOGIN_LOCK_MINUTES"], seconds=1)
    db.session.execute(update(SecurityEvent).where(SecurityEvent.remote_addr == "198.51.100.9")
                       .values(created_at=utcnow() - window))
    assert _from(client, "198.51.100.9", "line3", DEMO_PASSWORD).status_code == 302


def test_refusals_do_not_count_and_zero_turns_the_check_off(client, db, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 2)
    for name in ("desk", "line1"):
        _from(client, "198.51.100.9", name, "guess")
    for _ in range(3):  # refused tries are logged as throttled, not as more failures
        assert _from(client, "198.51.100.9", "line2", "guess").status_code == 429
    assert len(_log(db, "line2")) == 3 and set(_log(db, "line2")) == {"login_throttled"}
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES_PER_ADDRESS", 0)
    assert _from(client, "198.51.100.9", "line2", DEMO_PASSWORD).status_code == 302
