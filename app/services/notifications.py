"""Notifications: one service for every notice.

`notify()` writes an in-app row per recipient in the caller's transaction (once per `key`: the same breach
never notifies twice) and puts e-mail and webhook deliveries in the outbox; `send()` (the
`notifications.send` job) delivers one channel of one notification once. Templates exist per event in
Chinese and English; the recipient's language (user.locale, else BABEL_DEFAULT_LOCALE) picks one.
"""
from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from collections.abc import Iterable
from email.message import EmailMessage
from typing import Any

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import func, select

from ..extensions import db
from ..models import Group, HumanTask, Notification, NotificationPreference, ProcessInstance, User, UserGroup
from ..models.base import utcnow
from . import outbox
from .errors import Forbidden, NotFound, ValidationFailed

log = logging.getLogger(__name__)

# Per event: (subject, body) in each language; fields come from the notice's context.
TEMPLATES: dict[str, dict[str, tuple[str, str]]] = {
    "sla_warning": {
        "zh_CN": ("【SLA预警】{business_key} {kind_zh}时限已用 {share}%",
                  "{business_key}（{title}）的{kind_zh}时限为 {target} 个工作分钟，"
                  "已用 {elapsed} 分钟，截止时间 {deadline}。"),
        "en": ("[SLA warning] {business_key}: {share}% of the {kind} time used",
               "{business_key} ({title}): {elapsed} of {target} business minutes used; deadline {deadline}."),
    },
    "sla_breach": {
        "zh_CN": ("【SLA违约】{business_key} {kind_zh}超时",
                  "{business_key}（{title}）的{kind_zh}时限 {target} 个工作分钟已于 {deadline} 到期。"),
        "en": ("[SLA breach] {business_key}: {kind} time exceeded",
               "{business_key} ({title}): the {kind} target of {target} business minutes expired at {deadline}."),
    },
    "support_too_slow": {
        "zh_CN": ("【升级】{business_key} 支持组处理过慢",
                  "{business_key}（{title}）在 {group} 的调查和分析已超过 {after}，请协调处理。"),
        "en": ("[Escalation] {business_key}: support group too slow",
               "{business_key} ({title}) has been with {group} for longer than {after}; please coordinate."),
    },
    "task_assigned": {
        "zh_CN": ("【待办】{business_key} {task}", "{business_key}（{title}）的“{task}”已交给您处理。"),
        "en": ("[To do] {business_key}: {task_en}", "{business_key} ({title}): \"{task_en}\" is now yours to do."),
    },
    "case_closed": {
        "zh_CN": ("【已完成】{business_key}", "您提交的 {business_key}（{title}）已处理完毕。"),
        "en": ("[Done] {business_key}", "Your request {business_key} ({title}) has been dealt with and closed."),
    },
    "case_withdrawn": {
        "zh_CN": ("【已撤销】{business_key}", "{author} 撤销了 {business_key}（{title}）：{reason}"),
        "en": ("[Withdrawn] {business_key}", "{author} withdrew {business_key} ({title}): {reason}"),
    },
    "case_note": {
        "zh_CN": ("【工单留言】{business_key} {author}", "{author} 在 {business_key}（{title}）中留言：\n{text}"),
        "en": ("[Note] {business_key} from {author}", "{author} wrote on {business_key} ({title}):\n{text}"),
    },
    "case_received": {
        "zh_CN": ("【已受理】{business_key} {subject}",
                  "您的邮件“{subject}”已登记为 {business_key}。回复时请在邮件主题中保留该编号，"
                  "回复内容会作为留言加入该工单。{refused}"),
        "en": ("[Received] {business_key} {subject}",
               "Your e-mail \"{subject}\" is recorded as {business_key}. Keep this number in the subject when you "
               "reply: replies are added to the case as notes. {refused}"),
    },
    "contract_ending": {
        "zh_CN": ("【合同到期提醒】{vendor} 的合同将于 {contract_end} 到期",
                  "供应商 {vendor}（{code}）的合同 {contract_no} 将于 {contract_end} 到期，还有 {days} 天。"
                  "请及时续签、更换供应商或安排交接。"),
        "en": ("[Contract ending] {vendor}: contract ends on {contract_end}",
               "The contract {contract_no} with the supplier {vendor} ({code}) ends on {contract_end}, in {days} "
               "days. Renew it, replace the supplier or arrange the handover in time."),
    },
}
KINDS = tuple(TEMPLATES)


class _Defaults(dict):
    def __missing__(self, key: str) -> str:
        return ""


def render(kind: str, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """Subject and body of a notice in a language (zh_CN or en)."""
    variants = TEMPLATES[kind]
    subject, body = variants.get(language) or variants["zh_CN"]
    ctx = _Defaults(context)
    return subject.format_map(ctx), body.format_map(ctx)


def _language(user: User) -> str:
    locale = user.locale or current_app.config.get("BABEL_DEFAULT_LOCALE", "zh_CN")
    return "en" if str(locale).startswith("en") else "zh_CN"


def preference(user: User) -> NotificationPreference:
    pref = db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
    return pref or NotificationPreference(user_id=user.id, email=True, webhook_url="", muted_kinds=[])


def set_preference(user: User, actor: User, *, email: bool, webhook_url: str, muted_kinds: list[str]) -> None:
    """A user chooses which notifications they receive and how (only for themselves)."""
    if actor.id != user.id:
        raise Forbidden(_("You may only change your own notification settings."))
    if actor.in_group("auditor"):
        raise Forbidden(_("Auditors have read-only access."))
    unknown = [k for k in muted_kinds if k not in KINDS]
    if unknown or (webhook_url and not webhook_url.startswith(("http://", "https://"))):
        raise ValidationFailed(_("Invalid notification settings."), {"settings": [*unknown, webhook_url]})
    pref = db.session.scalar(select(NotificationPreference).where(NotificationPreference.user_id == user.id))
    if pref is None:
        pref = NotificationPreference(user_id=user.id)
        db.session.add(pref)
    pref.email, pref.webhook_url, pref.muted_kinds = bool(email), webhook_url.strip(), sorted(set(muted_kinds))
    db.session.flush()


def notify(users: Iterable[User], kind: str, key: str, context: dict[str, Any],
           instance: ProcessInstance | None = None) -> list[Notification]:
    """Write one notice per recipient (once per key) and queue its e-mail and webhook deliveries."""
    created = []
    seen: set[int] = set()
    for user in users:
        if user is None or user.id in seen or not user.active:
            continue
        seen.add(user.id)
        pref = preference(user)
        if kind in (pref.muted_kinds or []):
            continue
        exists = db.session.scalar(select(Notification.id).where(Notification.user_id == user.id,
                                                                  Notification.key == key))
        if exists is not None:
            continue
        subject, body = render(kind, _language(user), context)
        note = Notification(user_id=user.id, kind=kind, key=key, subject=subject[:300], body=body,
                            instance_id=instance.id if instance is not None else None, data=dict(context))
        db.session.add(note)
        # No flush here (callers record engine steps without autoflush): the job finds the row by its key.
        if pref.email and user.email and current_app.config.get("SMTP_HOST"):
            outbox.enqueue("notifications.send", user_id=user.id, key=key, channel="email")
        if pref.webhook_url:
            outbox.enqueue("notifications.send", user_id=user.id, key=key, channel="webhook")
        created.append(note)
    return created


def send(user_id: int, key: str, channel: str) -> bool:
    """Deliver one channel of one notice, once (the sent mark is the idempotency check)."""
    note = db.session.scalar(select(Notification).where(Notification.user_id == user_id, Notification.key == key))
    if note is None:
        return False
    if channel == "email":
        if note.emailed_at is not None or not note.user.email:
            return False
        _send_email(note)
        note.emailed_at = utcnow()
    elif channel == "webhook":
        url = preference(note.user).webhook_url
        if note.webhooked_at is not None or not url:
            return False
        _post_webhook(url, note)
        note.webhooked_at = utcnow()
    else:
        raise ValueError(f"unknown channel {channel!r}")
    db.session.flush()
    return True


def _send_email(note: Notification) -> None:
    cfg = current_app.config
    msg = EmailMessage()
    msg["Subject"] = note.subject
    msg["From"] = cfg.get("SMTP_FROM") or "itsm@localhost"
    msg["To"] = note.user.email
    msg.set_content(note.body)
    with smtplib.SMTP(cfg["SMTP_HOST"], int(cfg.get("SMTP_PORT") or 25), timeout=10) as smtp:
        smtp.send_message(msg)


def _post_webhook(url: str, note: Notification) -> None:
    payload = {"id": note.id, "kind": note.kind, "subject": note.subject, "body": note.body,
               "user": note.user.username, "instance_id": note.instance_id, "data": note.data,
               "created_at": note.created_at.isoformat() if note.created_at else None}
    request = urllib.request.Request(url, data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the user's own URL
        if response.status >= 300:
            raise OSError(f"webhook answered {response.status}")


# --------------------------------------------------------------------------- recipients and lists

def task_assigned(task: HumanTask) -> None:
    """Tell a user that a task is now theirs (a requester's confirmation, a named assignee, a reassignment)."""
    from .definitions import compiled_for

    instance = task.instance
    user = task.assignee or (db.session.get(User, task.assignee_id) if task.assignee_id else None)
    english = compiled_for(instance.version).names.get("en", {}).get(task.spec_id)
    notify([user], "task_assigned", f"task_assigned:{task.task_guid}:{task.assignee_id}", {
        "business_key": instance.business_key, "title": instance.title, "task": task.name,
        "task_en": english or task.name}, instance=instance)


def case_closed(instance: ProcessInstance) -> None:
    """Tell the requester that their case is finished (closed-loop tracking, spec 6.2)."""
    notify([instance.requester], "case_closed", f"case_closed:{instance.business_key}", {
        "business_key": instance.business_key, "title": instance.title}, instance=instance)


def group_members(code: str, organisation_ids: Iterable[int]) -> list[User]:
    ids = list(organisation_ids)
    return list(db.session.scalars(
        select(User).join(UserGroup, UserGroup.user_id == User.id).join(Group)
        .where(Group.code == code, User.organisation_id.in_(ids), User.active.is_(True)).order_by(User.id)))


def for_user(user: User, limit: int = 100) -> list[Notification]:
    return list(db.session.scalars(select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id.desc()).limit(limit)))


def unread_count(user: User) -> int:
    return db.session.scalar(select(func.count()).where(Notification.user_id == user.id,
                                                        Notification.read_at.is_(None))) or 0


def mark_read(notification_id: int, actor: User) -> Notification:
    note = db.session.get(Notification, notification_id)
    if note is None:
        raise NotFound(_("Not found."))
    if note.user_id != actor.id or actor.in_group("auditor"):
        raise Forbidden(_("You may not do this."))
    if note.read_at is None:
        note.read_at = utcnow()
    db.session.flush()
    return note
