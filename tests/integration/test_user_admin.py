"""Administrators manage accounts in the browser; every change is in the security log; nobody else may."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import SecurityEvent, User
from tests.conftest import DEMO_PASSWORD

INITIAL = "Start-2026-pass"
OWN = "my-own-pass-77"
NEW_ACCOUNT = {"username": "zhang.wei", "password": INITIAL, "display_name": "张伟", "organisation": "county",
               "groups": ["service_desk", "support_line_1"], "desk_tier": "basic", "email": "zw@example.cn"}


def _events(db, username: str) -> list[str]:
    return list(db.session.scalars(select(SecurityEvent.type).where(SecurityEvent.username == username)
                                   .order_by(SecurityEvent.id)))


def _login(app, username: str, password: str):  # noqa: ANN202
    client = app.test_client()
    response = client.post("/login", data={"username": username, "password": password})
    return client, response


@pytest.mark.parametrize(("role", "status"), [("administrator", 200), ("service_desk", 403), ("auditor", 403),
                                              ("process_owner", 403), ("requester", 403)])
def test_only_administrators_reach_the_user_pages(db, login_as, user, role, status):
    client = login_as(role)
    desk = user("desk")
    assert client.get("/admin/users").status_code == status
    assert client.get("/admin/users/new").status_code == status
    assert client.get(f"/admin/users/{desk.id}").status_code == status
    if status == 403:
        assert client.post("/admin/users/new", data=NEW_ACCOUNT).status_code == 403
        assert client.post(f"/admin/users/{desk.id}/active", data={"active": "0"}).status_code == 403
        assert client.post(f"/admin/users/{desk.id}/password", data={"password": INITIAL}).status_code == 403
        assert db.session.scalar(select(User).where(User.username == "zhang.wei")) is None and desk.active


def test_a_new_account_must_choose_its_own_password_first(app, db, login_as, client):
    admin = login_as("administrator")
    created = admin.post("/admin/users/new", data=NEW_ACCOUNT)
    assert created.status_code == 302
    account = db.session.scalar(select(User).where(User.username == "zhang.wei"))
    assert account.group_codes == {"service_desk", "support_line_1"} and account.tier() == "basic"
    assert account.organisation.code == "county" and account.must_change_password
    assert "zhang.wei" in admin.get("/admin/users?group=support_line_1").data.decode()

    owner, response = _login(app, "zhang.wei", INITIAL)
    assert response.status_code == 302
    blocked = owner.get("/")
    assert blocked.status_code == 302 and blocked.headers["Location"].endswith("/account/password")
    token = client.post("/api/v1/auth/token", json={"username": "zhang.wei", "password": INITIAL})
    assert token.status_code == 403 and token.json["error"] == "password_change_required"
    assert owner.post("/account/password", data={"current": INITIAL, "new": OWN, "repeated": OWN}).status_code == 302
    assert owner.get("/").status_code == 200
    assert client.post("/api/v1/auth/token", json={"username": "zhang.wei", "password": OWN}).status_code == 200
    assert _events(db, "zhang.wei")[:1] == ["user_created"] and "password_changed" in _events(db, "zhang.wei")


@pytest.mark.parametrize(("change", "field"), [
    ({"username": "Bad Name"}, "username"),
    ({"username": "desk"}, "username"),
    ({"password": "short"}, "password"),
    ({"password": "zhang.wei-2026"}, "password"),
    ({"groups": []}, "groups"),
    ({"groups": ["no_such_group"]}, "groups"),
    ({"desk_tier": ""}, "desk_tier"),
    ({"organisation": "nowhere"}, "organisation"),
    ({"display_name": " "}, "display_name"),
])
def test_a_refused_account_says_why_beside_the_field(db, login_as, change, field):
    accounts = db.session.scalar(select(func.count()).select_from(User))
    page = login_as("administrator").post("/admin/users/new?lang=en", data={**NEW_ACCOUNT, **change})
    assert page.status_code == 400
    html = page.data.decode()
    assert f'id="{field}-error"' in html
    assert 'value="zw@example.cn"' in html  # what was typed is kept
    assert 'action="/logout"' in html  # still the administrator's page, menu and all
    assert db.session.scalar(select(func.count()).select_from(User)) == accounts
    assert db.session.scalar(select(func.count()).select_from(SecurityEvent)
                             .where(SecurityEvent.type == "user_created")) == 0


def test_editing_groups_is_logged_and_an_administrator_keeps_their_own_role(db, login_as, user):
    admin = login_as("administrator")
    line1 = user("line1")
    form = {"display_name": line1.display_name, "organisation": "county",
            "groups": ["support_line_1", "problem_analyst"]}
    assert admin.post(f"/admin/users/{line1.id}", data=form).status_code == 302
    assert user("line1").group_codes == {"support_line_1", "problem_analyst"}
    event = db.session.scalar(select(SecurityEvent).where(SecurityEvent.type == "user_updated"))
    assert event.data["changes"]["groups"]["to"] == ["problem_analyst", "support_line_1"]
    assert event.data["by"] == "admin"
    me = user("admin")
    refused = admin.post(f"/admin/users/{me.id}?lang=en", data={"display_name": "x", "organisation": "mee",
                                                                 "groups": ["auditor"]})
    assert refused.status_code == 400 and user("admin").group_codes == {"administrator"}
    assert 'action="/logout"' in refused.data.decode() and "groups-error" in refused.data.decode()


def test_deactivating_ends_sessions_and_tokens_and_reactivating_restores_the_login(app, db, login_as, client, user):
    session, _response = _login(app, "line1", DEMO_PASSWORD)
    token = client.post("/api/v1/auth/token", json={"username": "line1", "password": DEMO_PASSWORD}).json["token"]
    admin = login_as("administrator")
    line1 = user("line1")
    assert admin.post(f"/admin/users/{line1.id}/active", data={"active": "0"}).status_code == 302
    assert session.get("/").status_code == 302
    assert client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _login(app, "line1", DEMO_PASSWORD)[1].status_code == 401
    assert admin.post(f"/admin/users/{line1.id}/active", data={"active": "1"}).status_code == 302
    assert _login(app, "line1", DEMO_PASSWORD)[1].status_code == 302
    assert admin.post(f"/admin/users/{user('admin').id}/active", data={"active": "0"}).status_code == 403
    events = _events(db, "line1")
    assert events.index("user_deactivated") < events.index("user_reactivated")


def test_reset_password_and_unlock(app, db, login_as, user):
    from datetime import timedelta

    from app.models.base import utcnow

    line1 = user("line1")
    line1.locked_until = utcnow() + timedelta(minutes=10)
    db.session.flush()
    admin = login_as("administrator")
    assert admin.post(f"/admin/users/{line1.id}/unlock").status_code == 302
    assert user("line1").locked_until is None
    weak = admin.post(f"/admin/users/{line1.id}/password", data={"password": "weak"})
    assert weak.status_code == 302 and user("line1").check_password(DEMO_PASSWORD)  # refused, with a message
    assert admin.post(f"/admin/users/{line1.id}/password", data={"password": INITIAL}).status_code == 302
    assert user("line1").must_change_password
    assert _login(app, "line1", DEMO_PASSWORD)[1].status_code == 401
    assert _login(app, "line1", INITIAL)[1].status_code == 302
    assert {"account_unlocked", "password_reset"} <= set(_events(db, "line1"))
