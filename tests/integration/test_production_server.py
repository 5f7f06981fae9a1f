"""The README's production commands, run as written: migrate, deploy, then gunicorn with two workers.

Two client threads drive incident lifecycles through the JSON API at once over loopback HTTP, so both
workers write at the same time. On SQLite that exercises the write lock taken at a transaction's first write
(README, "Configuration"); in the PostgreSQL pass it is the production pair, PostgreSQL and Redis (so the web
workers run no jobs thread; rq workers are tested in test_rq.py). Then both workers complete one task at once:
one succeeds, the other gets 409. Afterwards every audit chain verifies (`flask audit verify`).
"""
from __future__ import annotations

import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from app.models import ProcessInstance
from tests.conftest import DEMO_PASSWORD
from tests.integration.helpers import fresh_pg_database, pg_url
from tests.integration.test_rq import REDIS_URL, redis_db  # noqa: F401 — the fixture, flushed around the test
from tests.support import PATHS, SIMPLE_PATH

ROOT = Path(__file__).resolve().parents[2]
START, STEPS = PATHS[SIMPLE_PATH]
CLIENTS, LIFECYCLES = 2, 4  # lifecycles per client thread


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flask(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"flask {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class Api:
    """A JSON client over plain HTTP; a fresh connection per request (gunicorn's sync workers close them)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port, self.token = port, token

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read() or b"null")
        finally:
            conn.close()


def _lifecycles(api: Api, n: int, out: list) -> None:
    """n incident lifecycles, each next task taken from the previous answer; (business key, status) or an error."""
    try:
        for _ in range(n):
            status, body = api.call("POST", "/api/v1/processes/incident/instances", {"data": START})
            assert status == 201, (status, body)
            for spec_id, data in STEPS:
                assert [t["spec_id"] for t in body["open_tasks"]] == [spec_id], body
                status, body = api.call("POST", f"/api/v1/tasks/{body['open_tasks'][0]['id']}/complete",
                                        {"data": data})
                assert status == 200, (spec_id, status, body)
            out.append((body["business_key"], body["status"]))
    except Exception as exc:  # noqa: BLE001 — reported by the test
        out.append(exc)


@pytest.fixture
def production_env(tmp_path, request) -> dict[str, str]:  # noqa: ANN001
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "FLASK_", "REDIS_", "DATABASE_"))}
    env.update(APP_ENV="production", SECRET_KEY="p" * 48, DEMO_PASSWORD=DEMO_PASSWORD, PYTHONUNBUFFERED="1")
    if pg_url():
        request.getfixturevalue("redis_db")
        env.update(DATABASE_URL=fresh_pg_database("itsm_test_gunicorn"), REDIS_URL=REDIS_URL)
    else:
        env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'itsm.sqlite3'}"
    return env


def test_gunicorn_with_two_workers_serves_concurrent_lifecycles(production_env):
    env = production_env
    _flask(env, "db", "upgrade")
    assert "incident: version 1 deployed" in _flask(env, "deploy")
    _flask(env, "seed-demo")
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "--access-logfile", "-",
         "--access-logformat", "access pid=%(p)s %(m)s %(U)s %(s)s", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = Api(port).call("GET", "/api/v1/openapi.json")
                break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "gunicorn did not come up"
                time.sleep(0.2)
        assert status == 200
        status, body = Api(port).call("POST", "/api/v1/auth/token", {"username": "desk", "password": DEMO_PASSWORD})
        assert status == 200, body
        api = Api(port, body["token"])
        results: list = []
        threads = [threading.Thread(target=_lifecycles, args=(api, LIFECYCLES, results)) for _ in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        # Both workers complete the same task at once: exactly one succeeds, the other is told it lost (409),
        # whichever way their transactions interleave.
        status, body = api.call("POST", "/api/v1/processes/incident/instances", {"data": START})
        assert status == 201, body
        task_id, data = body["open_tasks"][0]["id"], STEPS[0][1]
        race: list = []
        racers = [threading.Thread(target=lambda: race.append(api.call(
            "POST", f"/api/v1/tasks/{task_id}/complete", {"data": data}))) for _ in range(2)]
        for t in racers:
            t.start()
        for t in racers:
            t.join(60)
    finally:
        server.terminate()
        log = server.communicate(timeout=30)[0]

    errors = [r for r in results if isinstance(r, Exception)]
    assert not errors, f"{errors[0]!r}\n{log[-3000:]}"
    assert len(results) == CLIENTS * LIFECYCLES
    assert {status for _, status in results} == {"completed"}
    assert len({key for key, _ in results}) == CLIENTS * LIFECYCLES
    access = re.findall(r"access pid=<(\d+)> (\w+) (\S+) (\d{3})", log)
    writes = [(pid, code) for pid, method, path, code in access if method == "POST" and "/tasks/" in path]
    assert len(writes) == CLIENTS * LIFECYCLES * len(STEPS) + 2  # and the two racers
    assert len({pid for pid, _ in writes}) == 2, "both workers served completions"
    assert not [a for a in access if a[3].startswith("5")], log[-3000:]
    assert [code for _, code in writes].count("409") == 1

    assert sorted(status for status, _ in race) == [200, 409], race
    assert "all event chains verified" in _flask(env, "audit", "verify")
    engine = create_engine(env["DATABASE_URL"])
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(ProcessInstance)
                               .where(ProcessInstance.status == "completed")) == CLIENTS * LIFECYCLES
            assert conn.scalar(select(func.count()).select_from(ProcessInstance)) == CLIENTS * LIFECYCLES + 1
    finally:
        engine.dispose()
