"""E-mail to the service desk through the mail gateway's webhook: a known sender's message becomes a fault report
with its attachments, a reply naming the case becomes a note, a redelivery changes nothing, strangers are refused."""
from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import func, select

from app.models import CaseAttachment, Event, InboundMail, Incident, Notification, ProcessInstance, SecurityEvent
from app.services import monitoring

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000010806000000f4227f8a0000000e49444154789c63f8cfc0f01f"
    "040110f803fd4e95c16f0000000049454e44ae426082")


@pytest.fixture
def token(db, user):
    account = monitoring.create_integration_account("mail-gateway", user("desk").organisation)
    db.session.commit()  # (a savepoint here) the requests below see the account whatever they refuse
    return monitoring.issue_integration_token(account)


def _mail(subject: str, body: str = "", *, sender: str = "reporter@example.org", message_id: str = "<m1@example.org>",
          files: list[tuple[str, bytes, str]] = (), html: str | None = None) -> bytes:
    msg = EmailMessage()
    msg["From"] = f"报障人 <{sender}>"
    msg["To"] = "servicedesk@example.org"
    msg["Subject"] = subject
    msg["Date"] = "Thu, 26 Nov 2026 09:15:00 +0800"
    if message_id:
        msg["Message-ID"] = message_id
    msg.set_content(body)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for name, content, mime in files:
        maintype, subtype = mime.split("/")
        msg.add_attachment(content, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


def _post(client, token, raw: bytes, mimetype: str = "message/rfc822"):
    return client.post("/api/v1/integrations/mail", data=raw, content_type=mimetype,
                       headers={"Authorization": f"Bearer {token}"})


def test_a_known_senders_mail_becomes_a_fault_report(client, db, token, user):
    raw = _mail("监测平台无法登录", "今天上午九点起登录页报 500 错误。\n\n> 以前的邮件内容", files=[
        ("截图.png", PNG, "image/png"), ("tool.exe", b"MZ\x90\x00", "application/octet-stream")])
    answer = _post(client, token, raw)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["outcome"] == "created" and body["duplicate"] is False
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.business_key == body["business_key"]))
    record = db.session.scalar(select(Incident).where(Incident.instance_id == instance.id))
    assert record.channel == "email" and record.reporter_id == user("reporter").id
    assert record.symptoms.startswith("监测平台无法登录\n\n今天上午九点起登录页报 500 错误。")
    assert "以前的邮件内容" not in record.symptoms  # the quoted conversation is left out
    assert record.occurred_at.isoformat().startswith("2026-11-26T01:15")
    files = db.session.scalars(select(CaseAttachment).where(CaseAttachment.instance_id == instance.id)).all()
    assert [f.filename for f in files] == ["截图.png"]  # the program is not accepted; the report still is
    types = [e.type for e in db.session.scalars(select(Event).where(Event.instance_id == instance.id))]
    assert "mail_received" in types and "note_added" in types
    notice = db.session.scalar(select(Notification).where(Notification.kind == "case_received"))
    assert notice.user_id == user("reporter").id and body["business_key"] in notice.subject
    assert "tool.exe" in notice.body  # the sender learns which attachment was not accepted


def test_a_redelivered_message_changes_nothing(client, db, token):
    raw = _mail("打印机卡纸", "二楼打印机卡纸")
    first = _post(client, token, raw).get_json()
    count = db.session.scalar(select(func.count()).select_from(ProcessInstance))
    again = _post(client, token, raw).get_json()
    assert again == {**first, "duplicate": True}
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == count
    without_id = _mail("显示器无信号", "x", message_id="")
    assert _post(client, token, without_id).get_json()["outcome"] == "created"
    assert _post(client, token, without_id).get_json()["duplicate"] is True  # the same bytes are the same message


def test_a_reply_naming_the_case_becomes_a_note(client, db, token):
    key = _post(client, token, _mail("网络中断", "三楼网络中断")).get_json()["business_key"]
    reply = _mail(f"Re: [{key}] 网络中断", "交换机指示灯全灭。\n\n在 2026年11月26日 写道：\n> 三楼网络中断",
                  message_id="<m2@example.org>", files=[("日志.txt", "链路断开".encode(), "text/plain")])
    answer = _post(client, token, reply).get_json()
    assert (answer["outcome"], answer["business_key"]) == ("noted", key)
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.business_key == key))
    notes = db.session.scalars(select(Event).where(Event.instance_id == instance.id, Event.type == "note_added")
                               .order_by(Event.seq)).all()
    assert notes[-1].data["text"] == "交换机指示灯全灭。" and notes[-1].data["attachments"][0]["filename"] == "日志.txt"
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.business_key == key)) == 1


def test_a_reply_on_a_case_the_sender_may_not_see_opens_a_new_one(client, db, token, user):
    from app.services import incident
    from tests.support import start_data

    other = incident.report_fault(user("line1_city"), start_data())
    db.session.commit()
    answer = _post(client, token, _mail(f"Re: {other.business_key}", "与我无关的工单", message_id="<m3@x>")).get_json()
    assert answer["outcome"] == "created" and answer["business_key"] != other.business_key


def test_html_only_mail_keeps_the_text_not_the_markup(client, db, token):
    msg = EmailMessage()
    msg["From"] = "reporter@example.org"
    msg["Subject"] = "邮件系统"
    msg["Message-ID"] = "<html@x>"
    msg.set_content("<p>收不到邮件<script>alert(1)</script></p><style>p{}</style>", subtype="html")
    key = _post(client, token, msg.as_bytes()).get_json()["business_key"]
    record = db.session.scalar(select(Incident).join(ProcessInstance).where(ProcessInstance.business_key == key))
    assert record.symptoms == "邮件系统\n\n收不到邮件"


@pytest.mark.parametrize(("sender", "reason"), [("stranger@evil.example", "unknown_sender"),
                                                ("auditor@example.org", "forbidden")])
def test_refused_senders_are_logged_and_make_no_case(client, db, token, sender, reason):
    count = db.session.scalar(select(func.count()).select_from(ProcessInstance))
    answer = _post(client, token, _mail("请帮忙", "x", sender=sender, message_id=f"<{reason}@x>")).get_json()
    assert (answer["outcome"], answer["reason"], answer["business_key"]) == ("rejected", reason, None)
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == count
    assert db.session.scalar(select(InboundMail.outcome).where(InboundMail.message_id == f"<{reason}@x>")) == \
        "rejected"
    assert db.session.scalar(select(SecurityEvent).where(SecurityEvent.type == "mail_refused")) is not None


def test_only_integration_tokens_and_real_messages(client, db, token, api_as):
    raw = _mail("x", "y")
    assert client.post("/api/v1/integrations/mail", data=raw, content_type="message/rfc822").status_code == 401
    assert client.post("/api/v1/integrations/mail", data=raw, content_type="message/rfc822",
                       headers=api_as("service_desk")).status_code == 401
    assert _post(client, token, raw, mimetype="application/json").status_code == 400
    assert _post(client, token, b"").status_code == 400
    assert _post(client, token, b"\x00\x01 not a message").status_code == 400
    assert db.session.scalar(select(func.count()).select_from(InboundMail)) == 0


def test_odd_and_hostile_messages_answer_without_a_server_error(client, db, token):
    odd_charset = (b"From: reporter@example.org\r\nSubject: =?x-unknown?q?abc?=\r\nMessage-ID: <odd@x>\r\n"
                   b"Content-Type: text/plain; charset=x-unknown\r\n\r\n\xff\xfe broken bytes\r\n")
    answer = _post(client, token, odd_charset)
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "created"
    nested = EmailMessage()
    nested["From"] = "reporter@example.org"
    nested["Subject"] = "嵌套邮件"
    nested["Message-ID"] = "<nested@x>"
    nested.set_content("外层")
    inner = EmailMessage()
    inner["Subject"] = "inner"
    inner.set_content("内层")
    for i in range(12):  # more files than a note takes
        inner.add_attachment(PNG, maintype="image", subtype="png", filename=f"{i}.png")
    nested.add_attachment(inner)
    for i in range(12):
        nested.add_attachment(PNG, maintype="image", subtype="png", filename=f"{i}.png")
    answer = _post(client, token, nested.as_bytes())
    assert answer.status_code == 200 and answer.get_json()["outcome"] == "created"
    key = answer.get_json()["business_key"]
    instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.business_key == key))
    assert db.session.scalar(select(func.count()).select_from(CaseAttachment).where(
        CaseAttachment.instance_id == instance.id)) == 5  # the note's limit; the rest are named as not accepted


@pytest.mark.parametrize("headers", [
    b"From: reporter@example.org\r\nMessage-ID: <@@y>\r\n",  # the stdlib's parser raised IndexError here
    b"From: reporter@\r\nMessage-ID: <a@b>\r\n",
    b"From: x: @\r\nMessage-ID: <c@d>\r\n",
    b"From: reporter@example.org\r\nMessage-ID: <e@f>\r\nContent-Type: multipart/mixed; boundary=\"\r\n",
    b"From: reporter@example.org\r\nMessage-ID: <g@h>\r\nContent-Type: text/plain; charset=\"\r\nDate: x\r\n",
])
def test_malformed_headers_are_read_as_well_as_they_can_be(client, db, token, headers):
    """Found by fuzzing the endpoint (2,000 mutated messages): every one answers 200 or 400, never 500."""
    answer = _post(client, token, headers + b"Subject: =?utf-8?b?!!!?=\r\n\r\nbody\r\n")
    assert answer.status_code in (200, 400), answer.get_data(as_text=True)


class FakeMailbox:
    """What the poller asks of imaplib's IMAP4 (UID SEARCH / FETCH / STORE, logout), over canned messages."""

    def __init__(self, messages: dict[bytes, bytes]):
        self.messages, self.seen, self.stored = dict(messages), set(), []

    def uid(self, command: str, *args):  # noqa: ANN002, ANN201
        if command == "SEARCH":
            return "OK", [b" ".join(u for u in self.messages if u not in self.seen)]
        if command == "FETCH":
            return "OK", [(b"%s (UID %s BODY[] {n}" % (args[0], args[0]), self.messages[args[0]]), b")"]
        if command == "STORE":
            self.seen.add(args[0])
            self.stored.append(args[0])
            return "OK", [b""]
        raise AssertionError(command)

    def logout(self):  # noqa: ANN201
        return "BYE", [b""]


def test_the_poller_takes_unseen_messages_once(app, db, monkeypatch):
    from app.services import mail_intake

    monkeypatch.setitem(app.config, "MAIL_IMAP_URL", "imaps://desk:secret@mail.example.invalid/INBOX")
    box = FakeMailbox({b"11": _mail("扫描仪故障", "无法扫描", message_id="<p1@x>"),
                       b"12": _mail("请帮忙", "x", sender="stranger@evil.example", message_id="<p2@x>"),
                       b"13": b"\x00\x01 not a message"})
    counts = mail_intake.poll(connect=lambda url: box)
    assert (counts["created"], counts["rejected"], counts["failed"]) == (1, 2, 0)
    assert box.seen == {b"11", b"12", b"13"}  # each marked seen after its transaction
    assert mail_intake.poll(connect=lambda url: box)["created"] == 0  # nothing unseen any more
    box.seen.clear()  # the store of the flags was lost (a crash): the next poll finds them again
    again = mail_intake.poll(connect=lambda url: box)
    assert again["duplicate"] == 2 and again["created"] == 0
    assert db.session.scalar(select(func.count()).select_from(InboundMail)) == 2


def test_the_poller_is_off_without_a_mailbox_and_survives_a_dead_one(app, db, monkeypatch):
    from app.services import mail_intake

    assert mail_intake.poll() == {"polled": False}
    monkeypatch.setitem(app.config, "MAIL_IMAP_URL", "imaps://desk:secret@127.0.0.1:1/INBOX")
    result = mail_intake.poll()  # a closed port: reported, not raised
    assert result["polled"] is True and "error" in result and result["created"] == 0
    monkeypatch.setitem(app.config, "MAIL_IMAP_URL", "pop3://desk@mail.example.invalid")
    assert "MAIL_IMAP_URL" in mail_intake.poll()["error"]
