"""E-mail to the service desk (spec 6.1.1, 6.2: the single point of contact is reached by phone, web and
e-mail): a message from a known user becomes a fault report (channel `email`), its attachments the case's first
note; a reply whose subject carries a case number becomes a note on that case.

Messages arrive from the mail gateway through `POST /api/v1/integrations/mail` (raw RFC 822), with an
integration token. Each Message-ID is handled once (`inbound_mail`), so a redelivery changes nothing. Mail from
an address no active user has is refused and logged, never turned into a case: a mailbox is open to anyone.
"""
from __future__ import annotations

import contextlib
import email
import hashlib
import re
from datetime import UTC
from email import policy
from email.errors import HeaderParseError
from email.message import EmailMessage
from email.utils import parseaddr, parsedate_to_datetime
from typing import Any

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..extensions import db
from ..models import InboundMail, ProcessInstance, User
from . import cases, notifications
from .accounts import record_security_event
from .audit import append_event
from .errors import Conflict, Forbidden, ValidationFailed
from .instances import can_view_instance

# A case number as the application writes them (INC-20261126-0001, CHA-…): the reply's subject names its case.
CASE_KEY = re.compile(r"\b([A-Z]{2,5}-\d{8}-\d{4,6})\b")
SYMPTOMS_MAX = 4000


# The standard library's header and MIME parsers raise more than their documented errors on hostile input
# (IndexError deep in an address parser, say): a malformed part is read as well as it can be, never a 500.
_PARSE_ERRORS = (HeaderParseError, IndexError, KeyError, LookupError, TypeError, ValueError, AttributeError,
                 AssertionError)


def _header(msg: EmailMessage, name: str) -> str:
    """A header as text: decoded when it parses, else its raw value; folded onto one line."""
    raw = next((v for k, v in msg.raw_items() if k.lower() == name.lower()), None)
    if raw is None:
        return ""
    try:
        text = str(msg.policy.header_factory(name, raw))
    except _PARSE_ERRORS:
        text = str(raw)
    return " ".join(text.split())


def _message_id(msg: EmailMessage, raw: bytes) -> str:
    value = _header(msg, "Message-ID")
    # Without one (a broken client), the message's own bytes identify it: the same bytes twice are one message.
    return value[:300] if value else "sha256:" + hashlib.sha256(raw).hexdigest()


def _text(msg: EmailMessage) -> str:
    """The message's words: its plain-text part, else its HTML part's text (no markup, no scripts)."""
    try:
        return _text_of(msg)
    except _PARSE_ERRORS:
        return ""


def _text_of(msg: EmailMessage) -> str:
    try:
        part = msg.get_body(preferencelist=("plain", "html"))
    except _PARSE_ERRORS:
        return ""
    if part is None:
        return ""
    try:
        content = part.get_content()
    except _PARSE_ERRORS:  # an unknown charset, a broken header: the bytes as well as they decode
        payload = part.get_payload(decode=True)
        content = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    if not isinstance(content, str):
        return ""
    if part.get_content_subtype() == "html":
        from lxml import html as lxml_html
        from lxml.etree import ParserError

        try:
            tree = lxml_html.fromstring(content)
            for bad in tree.xpath("//script|//style"):
                bad.drop_tree()
            content = tree.text_content()
        except (ParserError, ValueError):
            content = ""
    lines = [line.rstrip() for line in content.replace("\r\n", "\n").split("\n")]
    # A reply quotes the whole conversation below it: keep what the sender wrote now.
    kept = []
    for line in lines:
        if line.startswith(">") or re.match(r"^(On .+ wrote:|在 .+写道[:：]|-----Original Message-----)$", line):
            break
        kept.append(line)
    return "\n".join(kept).strip()


def _files(msg: EmailMessage) -> list[tuple[str, bytes]]:
    out = []
    try:
        parts = list(msg.iter_attachments())
    except _PARSE_ERRORS:
        return out
    for part in parts:
        try:
            name = part.get_filename() or "attachment"
            content = part.get_payload(decode=True)
        except _PARSE_ERRORS:
            continue
        if isinstance(content, bytes) and content:
            out.append((str(name), content))
    return out


def _occurred(msg: EmailMessage) -> str | None:
    try:
        sent = parsedate_to_datetime(_header(msg, "Date"))
    except _PARSE_ERRORS:
        return None
    if sent is None:
        return None
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    return sent.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _sender(address: str) -> User | None:
    if not address or "@" not in address:
        return None
    return db.session.scalar(select(User).where(func.lower(User.email) == address.lower(), User.active.is_(True))
                             .order_by(User.id).limit(1))


def _record(message_id: str, sender: str, subject: str, outcome: str, *, reason: str = "",
            instance: ProcessInstance | None = None, user: User | None = None) -> dict[str, Any]:
    db.session.add(InboundMail(message_id=message_id, sender=sender[:300], subject=subject[:300], outcome=outcome,
                               reason=reason[:200], instance_id=instance.id if instance else None,
                               user_id=user.id if user else None))
    db.session.flush()
    return {"message_id": message_id, "outcome": outcome, "reason": reason or None,
            "business_key": instance.business_key if instance else None, "duplicate": False}


def _reply_target(subject: str, user: User) -> ProcessInstance | None:
    """The running case a reply's subject names, when the sender may see it."""
    for key in CASE_KEY.findall(subject):
        instance = db.session.scalar(select(ProcessInstance).where(ProcessInstance.business_key == key))
        if instance is not None and instance.status == "running" and can_view_instance(user, instance):
            return instance
    return None


def receive_mail(account: User, raw: bytes) -> dict[str, Any]:
    """Handle one message: a new fault report, a note on the case it answers, or a refusal (all recorded once)."""
    if not raw or len(raw) > current_app.config["MAX_CONTENT_LENGTH"]:
        raise ValidationFailed(_("Not an e-mail message."), {"body": [_("Send the message as message/rfc822.")]})
    msg = email.message_from_bytes(raw, policy=policy.default)
    if not isinstance(msg, EmailMessage) or not list(msg.raw_items()):
        raise ValidationFailed(_("Not an e-mail message."), {"body": [_("Send the message as message/rfc822.")]})
    message_id = _message_id(msg, raw)
    seen = db.session.scalar(select(InboundMail).where(InboundMail.message_id == message_id))
    if seen is not None:
        key = db.session.get(ProcessInstance, seen.instance_id).business_key if seen.instance_id else None
        return {"message_id": message_id, "outcome": seen.outcome, "reason": seen.reason or None,
                "business_key": key, "duplicate": True}
    address = parseaddr(_header(msg, "From"))[1].strip()
    subject = _header(msg, "Subject")[:300]
    user = _sender(address)
    if user is None:
        record_security_event("mail_refused", address[:64] or "?", remote_addr=None, by=account.username,
                              message_id=message_id, reason="unknown_sender")
        return _record(message_id, address, subject, "rejected", reason="unknown_sender")
    text = _text(msg)
    files, problems = cases.split_files(_files(msg))
    refused = ("\n" + _("Attachments not accepted: %(list)s", list="; ".join(problems))) if problems else ""
    origin = {"message_id": message_id, "from": address, "subject": subject}
    target = _reply_target(subject, user)
    try:
        with db.session.begin_nested():  # a refusal undoes this message's half-done work, nothing else
            if target is not None:
                cases.add_note(target.id, user, ((text or subject) + refused)[:cases.NOTE_MAX_LENGTH], files=files)
                append_event(target, "mail_received", actor=account, data={**origin, "outcome": "noted"})
                return _record(message_id, address, subject, "noted", instance=target, user=user)
            from . import incident

            symptoms = "\n\n".join(x for x in (subject, text) if x)[:SYMPTOMS_MAX] or _("(an e-mail without text)")
            data: dict[str, Any] = {"symptoms": symptoms, "channel": "email", "reporter_contact": address[:200]}
            if (occurred := _occurred(msg)) is not None:
                data["occurred_at"] = occurred
            instance = incident.report_fault(user, data, files=files)
            append_event(instance, "mail_received", actor=account, data={**origin, "outcome": "created"})
    except (Forbidden, Conflict, ValidationFailed) as exc:  # an auditor's mail, a case closed meanwhile, ...
        record_security_event("mail_refused", user.username, user, by=account.username, message_id=message_id,
                              reason=exc.code)
        return _record(message_id, address, subject, "rejected", reason=exc.code, user=user)
    with force_locale("en" if (user.locale or "").startswith("en") else "zh_CN"):
        refused_note = (_("Attachments not accepted: %(list)s", list="; ".join(problems))) if problems else ""
    notifications.notify([user], "case_received", f"case_received:{instance.business_key}", {
        "business_key": instance.business_key, "title": instance.title, "subject": subject or "—",
        "refused": refused_note}, instance=instance)
    return _record(message_id, address, subject, "created", instance=instance, user=user)


# --- polling the desk's mailbox (MAIL_IMAP_URL) --------------------------------------------------------------

MAILBOX_ACCOUNT = "mailbox"  # the integration account the poller acts as (created in the top organisation)


def _connect(url: str) -> Any:
    """An authenticated IMAP connection with the mailbox selected (imaps://, or imap:// with STARTTLS)."""
    import imaplib
    import ssl
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ValueError("MAIL_IMAP_URL must be imaps://user:password@host[:port]/folder or imap://...")
    context = ssl.create_default_context()
    if parts.scheme == "imaps":
        conn = imaplib.IMAP4_SSL(parts.hostname, parts.port or 993, ssl_context=context, timeout=30)
    else:
        conn = imaplib.IMAP4(parts.hostname, parts.port or 143, timeout=30)
        conn.starttls(ssl_context=context)  # never a password in clear text
    conn.login(unquote(parts.username or ""), unquote(parts.password or ""))
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    status, _data = conn.select(folder)
    if status != "OK":
        raise RuntimeError(f"cannot open the folder {folder!r}")
    return conn


def _mailbox_account() -> User:
    from ..models import Organisation
    from .monitoring import create_integration_account

    top = db.session.scalar(select(Organisation).where(Organisation.parent_id.is_(None)).order_by(Organisation.id))
    return create_integration_account(MAILBOX_ACCOUNT, top)


def poll(connect: Any = None) -> dict[str, Any]:
    """The periodic job: take up to MAIL_IMAP_BATCH unseen messages from the desk's mailbox, one transaction
    each, and mark each seen only after its transaction committed (a crash in between: the next poll finds it
    again, and its Message-ID makes it a duplicate). Off when MAIL_IMAP_URL is unset."""
    import logging

    url = current_app.config.get("MAIL_IMAP_URL")
    if not url:
        return {"polled": False}
    counts: dict[str, Any] = {"polled": True, "created": 0, "noted": 0, "rejected": 0, "duplicate": 0,
                              "failed": 0}
    try:
        conn = (connect or _connect)(url)
    except Exception as exc:  # noqa: BLE001 - a mailbox down or a wrong password: say so, retry next minute
        logging.getLogger(__name__).warning("mail poll: cannot reach the mailbox: %s", exc)
        return {**counts, "error": str(exc)[:300]}
    try:
        status, data = conn.uid("SEARCH", None, "UNSEEN")
        uids = (data[0] or b"").split() if status == "OK" and data else []
        account = _mailbox_account()
        db.session.commit()
        for uid in uids[:current_app.config["MAIL_IMAP_BATCH"]]:
            status, parts = conn.uid("FETCH", uid, "(BODY.PEEK[])")  # PEEK: not seen until handled
            raw = next((p[1] for p in parts or [] if isinstance(p, tuple) and len(p) > 1), None)
            if status != "OK" or not isinstance(raw, bytes):
                counts["failed"] += 1
                continue
            try:
                result = receive_mail(account, raw)
                db.session.commit()
            except ValidationFailed:  # not a message at all: seen, so it is not read again every minute
                db.session.rollback()
                result = {"outcome": "rejected", "duplicate": False}
            except Exception:  # noqa: BLE001 - one bad message must not stop the others; it stays unseen
                db.session.rollback()
                logging.getLogger(__name__).exception("mail poll: message %s failed", uid)
                counts["failed"] += 1
                continue
            conn.uid("STORE", uid, "+FLAGS", "(\\Seen)")
            counts["duplicate" if result.get("duplicate") else result["outcome"]] += 1
    finally:
        with contextlib.suppress(Exception):  # the connection is going away anyway
            conn.logout()
    return counts
