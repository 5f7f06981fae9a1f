"""Notifications: in-app rows, e-mail through a local SMTP server (aiosmtpd), webhooks to a local HTTP
server, Chinese and English templates, preferences, and SLA warning/breach notified once each."""
from __future__ import annotations

import json
import socket
import threading
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from app.jobs import sla_jobs
from app.models import Notification, OutboxJob
from app.services import incident as incident_service
from app.services import notifications, outbox, sla
from app.services.errors import Forbidden, ValidationFailed
from tests.support import start_data

SH = ZoneInfo("Asia/Shanghai")


class _Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: ANN001, ANN201, N802
        self.messages.append((envelope.rcpt_tos, envelope.content.decode("utf-8", "replace")))
        return "250 OK"


@pytest.fixture
def smtp_server():
    inbox = _Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks its own port after starting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, inbox
    finally:
        controller.stop()


@pytest.fixture
def webhook_server():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802, ANN201
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(json.loads(body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):  # noqa: ANN002, ANN201
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_templates_in_both_languages():
    ctx = {"business_key": "INC-1", "title": "数据库", "kind": "resolve", "kind_zh": "解决", "target": 240,
           "elapsed": 180, "deadline": "2026-11-25 15:00", "share": 75}
    supplier = {"vendor": "示范公司", "code": "VEN-1", "contract_no": "HT-1", "contract_end": "2026-12-31", "days": 21}
    for kind in notifications.KINDS:  # every notice names its case, or its supplier
        key, context = ("示范公司", supplier) if kind == "contract_ending" else ("INC-1", ctx)
        zh, en = notifications.render(kind, "zh_CN", context), notifications.render(kind, "en", context)
        assert key in zh[0] and key in en[0] and zh != en and "{" not in zh[1] + en[1]
    assert notifications.render("sla_breach", "en", ctx)[0] == "[SLA breach] INC-1: resolve time exceeded"
    assert notifications.render("sla_breach", "zh_CN", ctx)[0] == "【SLA违约】INC-1 解决超时"


def test_email_and_webhook_channels(app, db, user, monkeypatch, smtp_server, webhook_server):
    port, inbox = smtp_server
    url, received = webhook_server
    monkeypatch.setitem(app.config, "SMTP_HOST", "127.0.0.1")
    monkeypatch.setitem(app.config, "SMTP_PORT", port)
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    lead = user("incident_lead")
    lead.email, lead.locale = "lead@example.org", "en"
    notifications.set_preference(lead, lead, email=True, webhook_url=url, muted_kinds=[])
    ctx = {"business_key": "INC-9", "title": "t", "group": "support_line_1", "after": "PT2H"}
    (note,) = notifications.notify([lead, lead], "support_too_slow", "k1", ctx)
    assert notifications.notify([lead], "support_too_slow", "k1", ctx) == []  # once per key
    db.session.commit()
    assert outbox.dispatch()["ran"] == 2
    (to, content), = inbox.messages
    assert to == ["lead@example.org"] and "[Escalation] INC-9: support group too slow" in content
    (hook,) = received
    assert hook["kind"] == "support_too_slow" and hook["user"] == "incident_lead" and hook["subject"] == note.subject
    # Idempotent: running the jobs again sends nothing.
    for job in db.session.scalars(select(OutboxJob)).all():
        assert notifications.send(lead.id, "k1", job.args["channel"]) is False
    assert len(inbox.messages) == 1 and len(received) == 1


def test_preferences_mute_kinds_and_are_personal(db, user):
    lead = user("incident_lead")
    notifications.set_preference(lead, lead, email=False, webhook_url="", muted_kinds=["sla_warning"])
    assert notifications.notify([lead], "sla_warning", "w1", {}) == []
    assert len(notifications.notify([lead], "sla_breach", "b1", {})) == 1
    with pytest.raises(Forbidden):
        notifications.set_preference(lead, user("desk"), email=True, webhook_url="", muted_kinds=[])
    with pytest.raises(ValidationFailed):
        notifications.set_preference(lead, lead, email=True, webhook_url="ftp://x", muted_kinds=["nope"])


def _resolve_clock(app, db, user, monkeypatch):  # noqa: ANN202
    """A reported fault with a 120-minute resolve clock started at 09:00 (jobs not queued to Redis)."""
    monkeypatch.setitem(app.config, "REDIS_URL", None)
    instance = incident_service.report_fault(user("reporter"), start_data())
    db.session.flush()
    start = datetime(2026, 11, 25, 9, 0, tzinfo=SH)
    clock = sla.start_clock(instance, "resolve", started_at=start, target_minutes=120, priority="P2",
                            service_class="application", now=start)
    db.session.commit()
    return instance, start, clock


def test_sla_warning_and_breach_notified_once_each(app, db, user, monkeypatch):
    instance, start, clock = _resolve_clock(app, db, user, monkeypatch)
    assert sla_jobs.sweep(now=(start + timedelta(minutes=80)).isoformat()) == {"warned": 0, "breached": 0}
    assert sla_jobs.sweep(now=(start + timedelta(minutes=95)).isoformat()) == {"warned": 1, "breached": 0}
    assert sla_jobs.sweep(now=(start + timedelta(minutes=100)).isoformat()) == {"warned": 0, "breached": 0}
    assert sla_jobs.sweep(now=(start + timedelta(minutes=121)).isoformat()) == {"warned": 0, "breached": 1}
    assert sla_jobs.sweep(now=(start + timedelta(days=2)).isoformat()) == {"warned": 0, "breached": 0}
    db.session.refresh(clock)
    assert clock.warned_at == start + timedelta(minutes=90) and clock.breached_at == start + timedelta(minutes=120)
    notes = db.session.scalars(select(Notification).where(Notification.instance_id == instance.id)).all()
    by_kind = {}
    for n in notes:
        by_kind.setdefault(n.kind, set()).add(n.user.username)
    # The desk member holds no task yet: the group lead and the service-level lead are told.
    assert by_kind == {"sla_warning": {"incident_lead", "service_level_lead"},
                       "sla_breach": {"incident_lead", "service_level_lead"}}


def test_notification_page(db, user, login_as):
    lead = user("incident_lead")
    (note,) = notifications.notify([lead], "sla_breach", "page1", {"business_key": "INC-7", "kind": "resolve",
                                                                   "kind_zh": "解决"})
    db.session.flush()
    client = login_as("incident_lead")
    page = client.get("/notifications/")
    assert page.status_code == 200 and "INC-7" in page.get_data(as_text=True)
    assert client.post(f"/notifications/{note.id}/read").status_code == 302
    assert db.session.get(Notification, note.id).read_at is not None
    assert login_as("desk").post(f"/notifications/{note.id}/read").status_code == 403
    r = client.post("/notifications/settings", data={"email": "y", "webhook_url": "", "muted": ["sla_warning"]})
    assert r.status_code == 302
    assert notifications.preference(lead).muted_kinds == ["sla_warning"]


def test_auditors_change_nothing(db, user, login_as):
    auditor = user("auditor")
    (note,) = notifications.notify([auditor], "sla_breach", "aud1", {})
    db.session.flush()
    with pytest.raises(Forbidden):
        notifications.set_preference(auditor, auditor, email=False, webhook_url="", muted_kinds=[])
    assert login_as("auditor").post(f"/notifications/{note.id}/read").status_code == 403
    assert login_as("auditor").get("/notifications/").status_code == 200


# --- following one's request: a task given to me, my request closed -----------------------------------

def _kinds(db, user, username):
    from sqlalchemy import select

    from app.models import Notification

    return [(n.kind, n.subject) for n in db.session.scalars(
        select(Notification).where(Notification.user_id == user(username).id).order_by(Notification.id))]


def test_the_requester_hears_when_to_confirm_and_when_it_is_closed(db, user):
    from tests.replay_support import drive

    instance = drive("desk_solves", steps=2)  # the desk solved it: confirm_resolution goes to the reporter
    assert _kinds(db, user, "reporter") == [
        ("task_assigned", f"【待办】{instance.business_key} 用户确认解决")]
    drive_rest = drive("desk_solves")
    kinds = [k for k, _s in _kinds(db, user, "reporter")]
    assert kinds.count("case_closed") == 1 and kinds.count("task_assigned") == 2
    assert ("case_closed", f"【已完成】{drive_rest.business_key}") in _kinds(db, user, "reporter")
    # Nobody hears of a task given to them by their own action, nor of a group task.
    assert _kinds(db, user, "desk") == [] and _kinds(db, user, "desk_call") == []


def test_a_phoned_in_case_without_a_requester_notifies_nobody(db, user):
    from sqlalchemy import func, select

    from app.models import Notification
    from app.services import incident, instances
    from tests.support import PATHS

    start, steps = PATHS["desk_solves"]
    before = db.session.scalar(select(func.count()).select_from(Notification))
    case = incident.record_incident(user("desk"), start)
    db.session.flush()
    for spec_id, data in steps:
        task = instances.open_tasks(case)[0]
        assert task.spec_id == spec_id
        instances.complete_task(task.id, user("desk"), data)
    assert case.status == "completed"
    assert db.session.scalar(select(func.count()).select_from(Notification)) == before


def test_a_reassigned_task_is_announced_in_the_assignees_language(db, user):
    from app.services import admin, instances
    from tests.replay_support import drive

    instance = drive("desk_solves", steps=1)
    user("line1").locale = "en"
    (task,) = instances.open_tasks(instance)
    admin.reassign_task(task.id, user("admin"), "line1", "desk is busy")
    db.session.flush()
    assert _kinds(db, user, "line1") == [
        ("task_assigned", f"[To do] {instance.business_key}: Classify and provide initial support")]


def test_every_kind_has_a_label_in_the_settings(db, login_as):
    from app.web.notifications import KIND_LABELS

    assert set(KIND_LABELS) == set(notifications.KINDS)
    html = login_as("requester").get("/notifications/?lang=en").get_data(as_text=True)
    assert "A task is given to me" in html and "My request is closed" in html and "Notes on my cases" in html


def test_a_cancelled_case_has_no_sla_warnings_or_breaches(app, db, user, monkeypatch):
    """Cancelling stops the case's SLA clocks: the sweep never warns of a case nobody works on any more, and the
    month's report does not count it."""
    from app.models import SlaClock
    from app.services import admin

    instance, start, clock = _resolve_clock(app, db, user, monkeypatch)
    admin.cancel_instance(instance.id, user("admin"), "duplicate report")
    db.session.commit()
    assert db.session.get(SlaClock, clock.id).status == "cancelled"
    assert sla_jobs.sweep(now=(start + timedelta(days=2)).isoformat()) == {"warned": 0, "breached": 0}
    assert db.session.scalars(select(Notification).where(Notification.instance_id == instance.id,
                                                         Notification.kind.like("sla_%"))).all() == []
    report = sla.build_report(instance.organisation, "2026-11", now=start + timedelta(days=2))
    assert all(row["clocks"] == 0 for row in report.rows) or report.rows == []


def test_cancelling_a_case_with_the_support_timer_waiting_ends_its_clocks_and_timers(db, user):
    from app.models import DueTimer, Event, SlaClock
    from app.services import admin
    from tests.replay_support import drive
    from tests.support import SLOW_SUPPORT_STEPS

    instance = drive("no_problem_submits_knowledge", steps=len(SLOW_SUPPORT_STEPS))

    def timers():
        return db.session.scalars(select(DueTimer).where(DueTimer.instance_id == instance.id,
                                                         DueTimer.fired.is_(False))).all()

    def clocks():
        return {c.kind: c.status for c in db.session.scalars(select(SlaClock).where(
            SlaClock.instance_id == instance.id))}

    assert timers() and "running" in clocks().values()
    admin.cancel_instance(instance.id, user("admin"), "reported twice")
    db.session.commit()
    assert timers() == [] and set(clocks().values()) <= {"cancelled", "stopped"}
    events = [e.type for e in db.session.scalars(select(Event).where(Event.instance_id == instance.id)
                                                 .order_by(Event.seq))]
    assert events[-1] == "instance_cancelled" and "sla_clock_cancelled" in events
