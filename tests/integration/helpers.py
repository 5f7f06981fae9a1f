"""Drive incident paths over HTTP as the demo user who may do each task."""
from __future__ import annotations

from sqlalchemy import select

from app.extensions import db
from app.models import HumanTask, Organisation, User
from app.services.demo import USERS


def worker_for(task: HumanTask) -> str:
    """The demo username that may work on a ready task."""
    if task.assignee_id is not None:
        return db.session.get(User, task.assignee_id).username
    org = db.session.get(Organisation, task.organisation_id).code
    for username, _name, org_code, groups, _tier in USERS:
        if org_code == org and task.candidate_group in groups:
            return username
    raise AssertionError(f"no demo user for {task.candidate_group} at {org}")


def ready_task(instance_id: int) -> HumanTask:
    tasks = db.session.scalars(select(HumanTask).where(
        HumanTask.instance_id == instance_id, HumanTask.state == "ready")).all()
    assert len(tasks) == 1, [t.spec_id for t in tasks]
    return tasks[0]


def form_post(data: dict) -> dict:
    """JSON form data as an HTML form would send it (booleans as true/false, lists repeated)."""
    out: dict = {}
    for key, value in data.items():
        if isinstance(value, bool):
            out[key] = "true" if value else "false"
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for i, row in enumerate(value):  # a table widget: <name>-<row>-<field>
                for field, cell in row.items():
                    out[f"{key}-{i}-{field}"] = str(cell)
        elif isinstance(value, list):
            out[key] = [str(v) for v in value]
        elif value is None:
            continue
        else:
            out[key] = str(value)
    return out


def deliver_reply(instance_id: int, name: str, payload: dict) -> None:
    """Stand in for the linked process finishing: deliver its reply to the waiting instance."""
    from app.models import ProcessInstance
    from app.services import instances

    instance = db.session.get(ProcessInstance, instance_id)
    assert name in instances.waiting_messages(instance), (name, instances.waiting_messages(instance))
    instances.deliver_message(instance, name, {**payload, "reply_to": instance.business_key}, None)
    db.session.commit()


def pg_url() -> str | None:
    """TEST_DATABASE_URL when the suite runs on PostgreSQL (the tests that need real server processes)."""
    import os

    url = os.environ.get("TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else None


def fresh_pg_database(database: str) -> str:
    """Create an empty PostgreSQL database of that name beside the test database (dropped first); its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    admin = make_url(pg_url()).set(drivername="postgresql", database="postgres")
    with psycopg.connect(admin.render_as_string(hide_password=False), autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {database}")
    return make_url(pg_url()).set(database=database).render_as_string(hide_password=False)


def fresh_pg_app(database: str, **config: object):  # noqa: ANN201 — a Flask app
    """An app on a new PostgreSQL database of that name, for tests whose threads or worker processes need
    committed data of their own."""
    return app_on(fresh_pg_database(database), **config)


def app_on(url: str, **config: object):  # noqa: ANN201 — a Flask app
    """An app on its own database (committing for real, unlike the rolled-back `db` fixture), set up with
    schema, demo data and definitions."""
    from app import create_app
    from tests.conftest import IsolatedClient, _test_config, setup_database

    app = create_app({**_test_config(), "SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "x",
                      **config})
    app.test_client_class = IsolatedClient
    setup_database(app)
    return app


def incident_waiting_on_escalation() -> tuple[int, object]:
    """Commit a reported incident driven to its support step; (instance id, its one due-timer row)."""
    from app.models import DueTimer
    from app.services import incident, instances
    from tests.support import SLOW_SUPPORT_STEPS, start_data

    reporter = db.session.scalar(select(User).where(User.username == "reporter"))
    instance = incident.report_fault(reporter, start_data())
    db.session.commit()
    for _spec_id, data in SLOW_SUPPORT_STEPS:
        task = ready_task(instance.id)
        actor = db.session.scalar(select(User).where(User.username == worker_for(task)))
        instances.complete_task(task.id, actor, data)
        db.session.commit()
    (row,) = db.session.scalars(select(DueTimer).where(DueTimer.instance_id == instance.id,
                                                       DueTimer.fired.is_(False))).all()
    return instance.id, row
