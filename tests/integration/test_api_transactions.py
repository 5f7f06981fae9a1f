"""An API write is one transaction: its answer is read inside it, not in a second (write-locking) one."""
from __future__ import annotations

from sqlalchemy import event

from app.extensions import db
from tests.conftest import DEMO_PASSWORD
from tests.integration.helpers import app_on
from tests.support import PATHS, SIMPLE_PATH


def test_each_write_request_is_one_transaction_that_commits(tmp_path):
    app = app_on(f"sqlite:///{tmp_path / 'one-transaction.sqlite3'}")
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "desk", "password": DEMO_PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    with app.app_context():
        engine = db.engine
    seen: list[str] = []
    listeners = {"begin": lambda conn: seen.append("begin"), "commit": lambda conn: seen.append("commit"),
                 "rollback": lambda conn: seen.append("rollback")}
    for name, fn in listeners.items():
        event.listen(engine, name, fn)
    try:
        start, steps = PATHS[SIMPLE_PATH]
        answer = client.post("/api/v1/processes/incident/instances", json={"data": start}, headers=headers)
        assert answer.status_code == 201
        assert seen == ["begin", "commit"]
        for spec_id, data in steps:
            (task,) = answer.json["open_tasks"]
            assert task["spec_id"] == spec_id
            seen.clear()
            answer = client.post(f"/api/v1/tasks/{task['id']}/complete", json={"data": data}, headers=headers)
            assert answer.status_code == 200, answer.json
            # The answer (open tasks, links) was read before the commit, in the same transaction.
            assert seen == ["begin", "commit"], spec_id
        assert answer.json["status"] == "completed" and answer.json["open_tasks"] == []
    finally:
        for name, fn in listeners.items():
            event.remove(engine, name, fn)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
