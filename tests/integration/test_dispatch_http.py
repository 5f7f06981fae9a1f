"""The dispatch page (administrators) and the availability form (everyone, for themselves)."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import DispatchRule, User


@pytest.mark.parametrize(("role", "status"), [("administrator", 200), ("service_desk", 403), ("auditor", 403),
                                              ("incident_lead", 403), ("requester", 403)])
def test_who_opens_the_dispatch_page(login_as, role, status):
    assert login_as(role).get("/dispatch/?organisation=county").status_code == status


def test_administrator_sets_dispatch_per_group(login_as, db):
    admin = login_as("administrator")
    page = admin.get("/dispatch/?organisation=county").get_data(as_text=True)
    assert 'data-group="support_line_2" data-mode="manual"' in page and "县二线支持" in page
    assert 'data-group="auditor"' not in page  # groups that hold no process tasks are not listed
    saved = admin.post("/dispatch/", data={"organisation": "county", "mode-support_line_2": "least_loaded",
                                           "mode-support_line_1": "manual"})
    assert saved.status_code == 302
    rules = db.session.scalars(select(DispatchRule)).all()
    assert [(r.group_code, r.mode) for r in rules] == [("support_line_2", "least_loaded")]
    assert 'data-group="support_line_2" data-mode="least_loaded"' in admin.get(
        "/dispatch/?organisation=county").get_data(as_text=True)
    assert admin.post("/dispatch/", data={"organisation": "county", "mode-support_line_2": "bogus"}).status_code == 400
    assert login_as("incident_lead").post("/dispatch/", data={
        "organisation": "county", "mode-support_line_2": "manual"}).status_code == 403
    assert admin.get("/dispatch/?organisation=nowhere").status_code == 404


def test_availability_on_the_settings_page(login_as, db):
    client = login_as("support_line_2")
    assert client.post("/notifications/away", data={"away_until": "2099-01-01T09:00"}).status_code == 302
    # 2099 is beyond a year ahead: refused with a message, nothing saved.
    line2 = db.session.scalar(select(User).where(User.username == "line2"))
    assert line2.away_until is None
    assert client.post("/notifications/away", data={"away_until": "soon"}).status_code == 302
    assert line2.away_until is None
    from datetime import datetime, timedelta

    tomorrow = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    client.post("/notifications/away", data={"away_until": tomorrow})
    db.session.expire_all()
    assert line2.away_until is not None
    assert 'id="away-state"' in client.get("/notifications/").get_data(as_text=True)
    client.post("/notifications/away", data={"back": "1"})
    db.session.expire_all()
    assert line2.away_until is None


def test_the_dispatch_form_needs_its_csrf_token(app, login_as, db):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert login_as("administrator").post("/dispatch/", data={
            "organisation": "county", "mode-support_line_2": "least_loaded"}).status_code == 400
        assert login_as("support_line_2").post("/notifications/away", data={"back": "1"}).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert db.session.scalars(select(DispatchRule)).all() == []
