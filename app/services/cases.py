"""Cases: the search everyone has (their own requests, their organisations' cases) and the notes on a case.

Spec 6.2: users follow their requests and staff query the cases (closed-loop tracking). A note is an event on
the case's hash-chained log, like every other change: an auditor replays it where it happened.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, exists, or_, select
from sqlalchemy.orm import defer

from ..extensions import db
from ..models import CaseAttachment, Event, HumanTask, Incident, Organisation, ProcessInstance, ProcessVersion, User
from . import notifications
from .audit import append_event
from .errors import Conflict, Forbidden, NotFound, ValidationFailed
from .instances import _flush_instance, get_instance, stop_instance

SCOPES = ("visible", "mine")
STATUSES = ("running", "completed", "cancelled")
PRIORITIES = ("P1", "P2", "P3", "P4")
MAX_PER_PAGE = 200
MAX_EXPORT = 5000
NOTE_MAX_LENGTH = 4000
NOTE_EVENT = "note_added"
MAX_FILES_PER_NOTE = 5
_ZIP = (b"PK\x03\x04",)
# What may be attached: extension -> (content type, how the file must begin; None: text, no NUL bytes).
ATTACHMENT_TYPES: dict[str, tuple[str, tuple[bytes, ...] | None]] = {
    ".png": ("image/png", (b"\x89PNG\r\n\x1a\n",)),
    ".jpg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".jpeg": ("image/jpeg", (b"\xff\xd8\xff",)),
    ".gif": ("image/gif", (b"GIF87a", b"GIF89a")),
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".docx": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", _ZIP),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", _ZIP),
    ".zip": ("application/zip", _ZIP),
    ".txt": ("text/plain", None),
    ".log": ("text/plain", None),
    ".csv": ("text/csv", None),
}
IMAGE_TYPES = {"image/png", "image/jpeg", "image/gif"}


@dataclass
class InstanceFilter:
    """What a case search asks for; every field optional."""

    business_key: str | None = None
    process_id: str | None = None
    version: int | None = None
    organisation: str | None = None  # organisation code
    status: str | None = None
    actor: str | None = None  # username who did any event
    created_from: datetime | None = None
    created_to: datetime | None = None
    text: str | None = None  # in the title and the incident record's symptoms
    priority: str | None = None

    @classmethod
    def from_args(cls, args: Any) -> InstanceFilter:
        """Parse query arguments (strings); bad values raise ValidationFailed naming the field."""
        errors: dict[str, list[str]] = {}

        def text(name: str) -> str | None:
            value = (args.get(name) or "").strip()
            return value or None

        def when(name: str) -> datetime | None:
            value = text(name)
            if value is None:
                return None
            try:
                at = datetime.fromisoformat(value)
            except ValueError:
                errors[name] = [_("Not a date or time.")]
                return None
            if name == "created_to" and len(value) == 10:  # a date alone: up to the end of that day
                at += timedelta(days=1, microseconds=-1)
            # Without an offset, a time is read in the UI's time zone (what the search form's date means).
            return at if at.tzinfo else at.replace(tzinfo=ZoneInfo(
                current_app.config.get("BABEL_DEFAULT_TIMEZONE", "UTC")))

        def one_of(name: str, allowed: tuple[str, ...]) -> str | None:
            value = text(name)
            if value is not None and value not in allowed:
                errors[name] = [_("Choose one of: %(values)s.", values=", ".join(allowed))]
                return None
            return value

        version = None
        if text("version"):
            try:
                version = int(text("version") or "")
            except ValueError:
                errors["version"] = [_("Not a number.")]
        flt = cls(text("business_key"), text("process"), version, text("organisation"), one_of("status", STATUSES),
                  text("actor"), when("created_from"), when("created_to"), text("q"), one_of("priority", PRIORITIES))
        if errors:
            raise ValidationFailed(_("Check the search fields."), errors)
        return flt

    def as_dict(self) -> dict[str, Any]:
        return {"business_key": self.business_key, "process": self.process_id, "version": self.version,
                "organisation": self.organisation, "status": self.status, "actor": self.actor,
                "created_from": self.created_from.isoformat() if self.created_from else None,
                "created_to": self.created_to.isoformat() if self.created_to else None, "q": self.text,
                "priority": self.priority}


def _like(text: str) -> str:
    """A LIKE pattern that matches the text itself: % and _ typed by a user are not wildcards."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_query(flt: InstanceFilter) -> Select:
    """Instances matching the filter, newest first (each condition on an indexed column)."""
    stmt = select(ProcessInstance)
    if flt.business_key:
        stmt = stmt.where(ProcessInstance.business_key.startswith(flt.business_key.upper(), autoescape=True))
    if flt.process_id:
        stmt = stmt.where(ProcessInstance.process_id == flt.process_id)
    if flt.version is not None:
        stmt = stmt.where(ProcessInstance.version_id.in_(select(ProcessVersion.id).where(
            ProcessVersion.version == flt.version,
            *([ProcessVersion.process_id == flt.process_id] if flt.process_id else []))))
    if flt.organisation:
        stmt = stmt.where(ProcessInstance.organisation_id.in_(
            select(Organisation.id).where(Organisation.code == flt.organisation)))
    if flt.status:
        stmt = stmt.where(ProcessInstance.status == flt.status)
    if flt.priority:
        stmt = stmt.where(ProcessInstance.priority == flt.priority)
    if flt.actor:
        actor_ids = select(User.id).where(User.username == flt.actor).scalar_subquery()
        stmt = stmt.where(exists().where(Event.instance_id == ProcessInstance.id, Event.actor_id == actor_ids))
    if flt.created_from:
        stmt = stmt.where(ProcessInstance.created_at >= flt.created_from)
    if flt.created_to:
        stmt = stmt.where(ProcessInstance.created_at <= flt.created_to)
    if flt.text:
        pattern = _like(flt.text)
        stmt = stmt.where(or_(
            ProcessInstance.title.ilike(pattern, escape="\\"),
            ProcessInstance.id.in_(select(Incident.instance_id).where(or_(
                Incident.symptoms.ilike(pattern, escape="\\"), Incident.error_codes.ilike(pattern, escape="\\"))))))
    return stmt.order_by(ProcessInstance.created_at.desc(), ProcessInstance.id.desc())


# --- who sees which cases ------------------------------------------------------------------------------

def is_staff(user: User) -> bool:
    """Members of a group other than the auditors: they work on cases, not only report them."""
    return bool(user.group_codes - {"auditor"})


def _own(user: User) -> ColumnElement[bool]:
    return or_(ProcessInstance.requester_id == user.id, ProcessInstance.created_by_id == user.id)


def visible_clause(user: User, scope: str = "visible") -> ColumnElement[bool] | None:
    """SQL for the cases `can_view_instance` lets the user see (None: all of them); `mine`: their own requests."""
    if scope == "mine":
        return _own(user)
    if user.in_group("auditor", "administrator"):
        return None
    if not user.memberships:
        return _own(user)
    # Staff see their organisation's cases and those of every organisation below it.
    return or_(_own(user), ProcessInstance.organisation_id.in_(select(_subtree(user.organisation_id).c.id)))


def _subtree(organisation_id: int) -> Any:
    """A recursive CTE of the organisation and every organisation below it."""
    tree = select(Organisation.id).where(Organisation.id == organisation_id).cte("org_tree", recursive=True)
    return tree.union_all(select(Organisation.id).where(Organisation.parent_id == tree.c.id))


def organisations_for(user: User) -> list[Organisation]:
    """The organisations whose cases the user may search by organisation (theirs and those below)."""
    stmt = select(Organisation).order_by(Organisation.id)
    if not user.in_group("auditor", "administrator"):
        if not user.memberships:
            return []
        stmt = stmt.where(Organisation.id.in_(select(_subtree(user.organisation_id).c.id)))
    return list(db.session.scalars(stmt))


def _matching(actor: User, flt: InstanceFilter, scope: str) -> Select:
    if scope not in SCOPES:
        raise ValidationFailed(_("Check the search fields."), {"scope": [
            _("Choose one of: %(values)s.", values=", ".join(SCOPES))]})
    stmt = search_query(flt)
    clause = visible_clause(actor, scope)
    return stmt if clause is None else stmt.where(clause)


def search(actor: User, flt: InstanceFilter, scope: str = "visible", page: int = 1,
           per_page: int = 50) -> tuple[list[ProcessInstance], bool]:
    """One page of the cases the actor may see that match, newest first, and whether a next page exists."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    stmt = _matching(actor, flt, scope).offset((max(page, 1) - 1) * per_page).limit(per_page + 1)
    rows = list(db.session.scalars(stmt))
    return rows[:per_page], len(rows) > per_page


def export(actor: User, flt: InstanceFilter, scope: str = "visible") -> list[ProcessInstance]:
    """Every matching case the actor may see, for a spreadsheet; refused beyond MAX_EXPORT rows."""
    rows = list(db.session.scalars(_matching(actor, flt, scope).limit(MAX_EXPORT + 1)))
    if len(rows) > MAX_EXPORT:
        raise ValidationFailed(_("More than %(n)s cases match; narrow the search.", n=MAX_EXPORT), {})
    return rows


def instance_summary(instance: ProcessInstance) -> dict[str, Any]:
    """A case as a search answers with it (the case list and the audit search)."""
    return {
        "id": instance.id, "business_key": instance.business_key, "process_id": instance.process_id,
        "version": instance.version.version, "status": instance.status, "title": instance.title,
        "organisation": instance.organisation.code, "priority": instance.priority,
        "created_at": instance.created_at.isoformat(),
        "completed_at": instance.completed_at.isoformat() if instance.completed_at else None,
    }


def open_tasks_of(instances: list[ProcessInstance]) -> dict[int, list[HumanTask]]:
    """The ready human tasks of a page of cases, in one query (where each case stands now)."""
    ids = [i.id for i in instances]
    out: dict[int, list[HumanTask]] = {i: [] for i in ids}
    if not ids:
        return out
    for task in db.session.scalars(select(HumanTask).where(HumanTask.instance_id.in_(ids), HumanTask.state == "ready")
                                   .order_by(HumanTask.id)):
        out[task.instance_id].append(task)
    return out


# --- notes ------------------------------------------------------------------------------------------------

def may_add_note(user: User, instance: ProcessInstance) -> bool:
    """Whoever may see a running case may write on it, except auditors (read-only)."""
    return instance.status == "running" and not user.in_group("auditor")


def add_note(instance_id: int, actor: User, text: str, *, internal: bool = False,
             files: Sequence[tuple[str, bytes]] = ()) -> Event:
    """Add a note, with files if any, to a running case (internal: staff only); tell the people on the case."""
    instance = get_instance(instance_id, actor)
    if actor.in_group("auditor"):
        raise Forbidden(_("Auditors have read-only access."))
    if internal and not is_staff(actor):
        raise Forbidden(_("Only staff may write internal notes."))
    text = (text or "").strip()
    if not text and not files:
        raise ValidationFailed(_("Write the note first."), {"text": [_("This field is required.")]})
    if len(text) > NOTE_MAX_LENGTH:
        raise ValidationFailed(_("The note is too long."), {"text": [
            _("At most %(n)s characters.", n=NOTE_MAX_LENGTH)]})
    checked = _check_files(files)
    if instance.status != "running":
        raise Conflict(_("This case is closed; notes can no longer be added."), state=instance.status)
    data: dict[str, Any] = {"text": text, "internal": internal}
    if checked:
        # The chain records each file's digest: an altered or swapped file no longer matches its note.
        data["attachments"] = [{"filename": f.filename, "content_type": f.content_type, "size": f.size,
                                "sha256": f.sha256} for f in checked]
    row = append_event(instance, NOTE_EVENT, actor=actor, data=data)
    for f in checked:
        f.instance_id, f.event_seq, f.internal, f.uploaded_by_id = instance.id, row["seq"], internal, actor.id
        db.session.add(f)
    _notify(instance, actor, row)
    _flush_instance()
    return db.session.scalars(select(Event).where(Event.instance_id == instance.id, Event.seq == row["seq"])).one()


def attach_first_files(instance: ProcessInstance, actor: User, files: Sequence[tuple[str, bytes]]) -> ProcessInstance:
    """Files that come with a report or a start (screenshots, logs) go on the case as its first note, in the same
    transaction: a file refused refuses the start, and nothing is half-saved."""
    if files:
        db.session.flush()  # the note is written against the new case's row
        add_note(instance.id, actor, "", files=files)
    return instance


def may_withdraw(user: User, instance: ProcessInstance) -> bool:
    """The person who asked may take a running request back (the fault went away, it was a mistake)."""
    return instance.status == "running" and instance.requester_id == user.id and not user.in_group("auditor")


def withdraw(instance_id: int, actor: User, reason: str) -> ProcessInstance:
    """The requester withdraws their running request: it ends as cancelled, and whoever held it is told."""
    instance = get_instance(instance_id, actor)
    if instance.requester_id != actor.id or actor.in_group("auditor"):
        raise Forbidden(_("Only the person who made the request may withdraw it."))
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed(_("Say why you withdraw the request."), {"reason": [_("A reason is required.")]})
    if instance.status != "running":
        raise Conflict(_("This case is closed; it can no longer be withdrawn."), state=instance.status)
    told = [u for u in _working_on(instance) if u.id != actor.id]  # before its tasks are cancelled
    stop_instance(instance, actor, "instance_withdrawn", {"reason": text[:500]})
    notifications.notify(told, "case_withdrawn", f"case_withdrawn:{instance.business_key}", {
        "business_key": instance.business_key, "title": instance.title, "author": actor.display_name,
        "reason": text[:500]}, instance=instance)
    _flush_instance()
    return instance


def _safe_filename(name: str) -> str:
    """The file's own name: no folders, no control characters, at most 255 characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[\x00-\x1f\x7f]", "", base).strip()[:255]


def split_files(files: Sequence[tuple[str, bytes]]) -> tuple[list[tuple[str, bytes]], list[str]]:
    """The files a note would accept (at most MAX_FILES_PER_NOTE), and why each of the others would be refused."""
    accepted: list[tuple[str, bytes]] = []
    problems: list[str] = []
    for item in files:
        try:
            _check_files([item])
        except ValidationFailed as exc:
            problems.extend(exc.errors.get("files", []))
            continue
        if len(accepted) == MAX_FILES_PER_NOTE:
            problems.append(_("At most %(n)s files per note.", n=MAX_FILES_PER_NOTE) + f" ({_safe_filename(item[0])})")
            continue
        accepted.append(item)
    return accepted, problems


def _check_files(files: Sequence[tuple[str, bytes]]) -> list[CaseAttachment]:
    """Validate the files of one note (count, name, type by extension and content, size); unsaved rows."""
    if len(files) > MAX_FILES_PER_NOTE:
        raise ValidationFailed(_("Too many files."), {"files": [
            _("At most %(n)s files per note.", n=MAX_FILES_PER_NOTE)]})
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    out, problems = [], []
    for raw_name, content in files:
        name = _safe_filename(raw_name)
        ext = ("." + name.rsplit(".", 1)[-1].lower()) if "." in name else ""
        kind = ATTACHMENT_TYPES.get(ext)
        if not name or kind is None:
            problems.append(_("%(name)s: this type of file cannot be attached (allowed: %(types)s).",
                              name=name or "?", types=" ".join(sorted(ATTACHMENT_TYPES))))
            continue
        content_type, magic = kind
        if not content:
            problems.append(_("%(name)s is empty.", name=name))
        elif len(content) > limit:
            problems.append(_("%(name)s is larger than %(mb)s MB.", name=name, mb=round(limit / 1024 / 1024, 1)))
        elif (magic is not None and not content.startswith(magic)) or (magic is None and b"\x00" in content[:8192]):
            # The name says one thing and the bytes another: never stored, never served.
            problems.append(_("%(name)s is not a valid %(ext)s file.", name=name, ext=ext))
        else:
            out.append(CaseAttachment(filename=name, content_type=content_type, size=len(content),
                                      sha256=hashlib.sha256(content).hexdigest(), data=content))
    if problems:
        raise ValidationFailed(_("The files were not attached."), {"files": problems})
    return out


def attachments_of(instance: ProcessInstance, viewer: User) -> dict[int, list[CaseAttachment]]:
    """The case's files the viewer may see, by the seq of the note they came with (no file contents loaded)."""
    out: dict[int, list[CaseAttachment]] = {}
    for att in db.session.scalars(select(CaseAttachment).options(defer(CaseAttachment.data))
                                  .where(CaseAttachment.instance_id == instance.id).order_by(CaseAttachment.id)):
        if not att.internal or reads_internal(viewer):
            out.setdefault(att.event_seq, []).append(att)
    return out


def get_attachment(instance_id: int, attachment_id: int, viewer: User) -> CaseAttachment:
    """A file of a case the viewer may see (an internal note's files: staff and auditors only)."""
    instance = get_instance(instance_id, viewer)
    att = db.session.get(CaseAttachment, attachment_id)
    if att is None or att.instance_id != instance.id or (att.internal and not reads_internal(viewer)):
        raise NotFound(_("No such file on this case."))
    return att


def verify_attachments(instance: ProcessInstance, events: list[Event]) -> str | None:
    """Each stored file still has the digest its note recorded on the (verified) chain; else what differs."""
    recorded: dict[int, list[str]] = {}
    for ev in events:
        if ev.type == NOTE_EVENT:
            recorded[ev.seq] = [item["sha256"] for item in (ev.data or {}).get("attachments") or []]
    for att in db.session.scalars(select(CaseAttachment).where(CaseAttachment.instance_id == instance.id)):
        digest = hashlib.sha256(att.data).hexdigest()
        if digest != att.sha256 or digest not in recorded.get(att.event_seq, []):
            return f"the file {att.filename} of event #{att.event_seq} has been altered"
    return None


def _working_on(instance: ProcessInstance) -> list[User]:
    """Who holds the case's open tasks: each task's assignee, or for an unclaimed one its group's members there."""
    people: list[User] = []
    for task in db.session.scalars(select(HumanTask).where(HumanTask.instance_id == instance.id,
                                                           HumanTask.state == "ready")):
        if task.assignee is not None:
            people.append(task.assignee)
        elif task.candidate_group:
            people.extend(notifications.group_members(task.candidate_group, [task.organisation_id]))
    return people


def _notify(instance: ProcessInstance, author: User, row: dict[str, Any]) -> None:
    """Tell the requester of a note meant for them, and those working on the case of any note."""
    recipients: list[User] = []
    if not row["data"]["internal"] and instance.requester is not None:
        recipients.append(instance.requester)
    recipients.extend(_working_on(instance))
    recipients = [u for u in recipients if u.id != author.id]
    notifications.notify(recipients, "case_note", f"note:{instance.business_key}:{row['seq']}", {
        "business_key": instance.business_key, "title": instance.title, "author": author.display_name,
        "text": row["data"]["text"][:500] or ", ".join(a["filename"] for a in row["data"].get("attachments", []))},
        instance=instance)


def notes(instance: ProcessInstance, viewer: User) -> list[Event]:
    """The case's notes the viewer may read, oldest first (internal ones only for staff and auditors)."""
    stmt = select(Event).where(Event.instance_id == instance.id, Event.type == NOTE_EVENT).order_by(Event.seq)
    return [e for e in db.session.scalars(stmt) if may_read(viewer, e)]


def reads_internal(viewer: User) -> bool:
    """Internal notes and their files are for staff and auditors (members of any group), not for requesters."""
    return bool(viewer.memberships)


def may_read(viewer: User, event: Event) -> bool:
    """Internal notes are for staff and auditors; every other event is for whoever sees the case."""
    if event.type != NOTE_EVENT or not (event.data or {}).get("internal"):
        return True
    return reads_internal(viewer)


def readable_events(instance: ProcessInstance, viewer: User) -> list[Event]:
    """The case's event log as the viewer may read it (internal notes left out for requesters)."""
    events = db.session.scalars(select(Event).where(Event.instance_id == instance.id).order_by(Event.seq))
    return [e for e in events if may_read(viewer, e)]
