"""A lost database connection is answered 503 with Retry-After (API: JSON, pages: the message); any other
operational error stays a fault of ours (500). The busy SQLite writer is in test_concurrency.py."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from app.services import instances


def _lost_connection(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
    raise OperationalError("SELECT 1", {}, Exception("server closed the connection unexpectedly"),
                           connection_invalidated=True)


def _missing_table(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
    raise OperationalError("SELECT 1", {}, Exception("no such table: human_task"))


def test_api_answers_503_when_the_connection_is_lost(client, api_as, monkeypatch):
    monkeypatch.setattr(instances, "get_task", _lost_connection)
    r = client.get("/api/v1/tasks/1", headers=api_as("service_desk"))
    assert r.status_code == 503
    assert r.headers["Retry-After"] == "2"
    body = r.get_json()
    assert body["error"] == "unavailable" and "无法连接数据库" in body["message"]  # zh_CN by default


def test_page_answers_503_when_the_connection_is_lost(login_as, monkeypatch):
    web = login_as("service_desk")
    monkeypatch.setattr(instances, "get_task", _lost_connection)
    r = web.get("/tasks/1?lang=en")
    assert r.status_code == 503 and r.headers["Retry-After"] == "2"
    assert "nothing was saved" in r.get_data(as_text=True)


def test_other_operational_errors_are_not_disguised_as_unavailable(client, api_as, monkeypatch):
    monkeypatch.setattr(instances, "get_task", _missing_table)
    with pytest.raises(OperationalError, match="no such table"):  # TESTING propagates what would be a 500
        client.get("/api/v1/tasks/1", headers=api_as("service_desk"))
