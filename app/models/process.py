"""Process versions, instances, the human-task projection and the append-only event log."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow
from .identity import Organisation, User


class ProcessVersion(db.Model):
    """An immutable deployment of one process: its BPMN and the DMN and form files it uses."""

    __tablename__ = "process_version"
    __table_args__ = (UniqueConstraint("process_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    process_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(200))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    bpmn_name: Mapped[str] = mapped_column(String(200))
    # Deferred: the compiled cache is keyed by content hash, so running instances never read these.
    bpmn_xml: Mapped[str] = mapped_column(Text, deferred=True)
    # {"dmn/incident_priority.dmn": "<xml>", "forms/incident/x.schema.json": "{...}"}
    files: Mapped[dict] = mapped_column(JSONType, default=dict, deferred=True)
    note: Mapped[str] = mapped_column(String(500), default="")
    deployed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    deployed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    deployed_by: Mapped[User | None] = relationship()


class ProcessInstance(db.Model):
    __tablename__ = "process_instance"
    __table_args__ = (
        Index("ix_instance_process_status", "process_id", "status"),
        Index("ix_instance_org_status", "organisation_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("process_version.id"), index=True)
    process_id: Mapped[str] = mapped_column(String(100))
    business_key: Mapped[str] = mapped_column(String(40), unique=True)
    title: Mapped[str] = mapped_column(String(300), default="")
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    status: Mapped[str] = mapped_column(String(20), default="running")  # running | completed | cancelled
    priority: Mapped[str | None] = mapped_column(String(10), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    requester_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    state: Mapped[bytes] = mapped_column(LargeBinary)
    state_format: Mapped[int] = mapped_column(Integer, default=1)
    # Optimistic lock: every write checks and bumps it, so a stale writer fails instead of overwriting.
    lock_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    # Head of the per-instance hash chain, kept here so appending needs no query.
    event_seq: Mapped[int] = mapped_column(Integer, default=0)
    event_head: Mapped[str] = mapped_column(String(64), default="")

    version: Mapped[ProcessVersion] = relationship()
    organisation: Mapped[Organisation] = relationship()
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])
    requester: Mapped[User | None] = relationship(foreign_keys=[requester_id])

    __mapper_args__ = {"version_id_col": lock_version}


class HumanTask(db.Model):
    """Projection of ready and finished user tasks, so inboxes never deserialise workflows."""

    __tablename__ = "human_task"
    __table_args__ = (
        Index("ix_task_inbox", "state", "candidate_group", "organisation_id"),
        Index("ix_task_assignee", "assignee_id", "state"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    task_guid: Mapped[str] = mapped_column(String(36), unique=True)
    spec_id: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    lane_id: Mapped[str | None] = mapped_column(String(64))
    candidate_group: Mapped[str | None] = mapped_column(String(64))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisation.id"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    state: Mapped[str] = mapped_column(String(20), default="ready")  # ready | completed | cancelled
    priority: Mapped[str | None] = mapped_column(String(10))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    form_file: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    instance: Mapped[ProcessInstance] = relationship()
    organisation: Mapped[Organisation] = relationship()
    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])


class Event(db.Model):
    """Append-only, hash-chained record of everything that happened to an instance."""

    __tablename__ = "event"
    __table_args__ = (
        UniqueConstraint("instance_id", "seq"),
        Index("ix_event_type_time", "type", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    type: Mapped[str] = mapped_column(String(40))
    spec_id: Mapped[str | None] = mapped_column(String(100))
    task_guid: Mapped[str | None] = mapped_column(String(36))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(ForeignKey("organisation.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    data: Mapped[dict] = mapped_column(JSONType, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    actor: Mapped[User | None] = relationship()
    instance: Mapped[ProcessInstance] = relationship()


class CaseAttachment(db.Model):
    """A file attached to a case with a note; the note's event records its SHA-256, so the chain covers it."""

    __tablename__ = "case_attachment"
    __table_args__ = (Index("ix_case_attachment_instance_seq", "instance_id", "event_seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"))
    event_seq: Mapped[int] = mapped_column(Integer)  # the note_added event it came with
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    internal: Mapped[bool] = mapped_column(default=False)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    uploaded_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BusinessKeyCounter(db.Model):
    """Per prefix and day sequence for readable business keys such as INC-20261125-0001."""

    __tablename__ = "business_key_counter"

    key: Mapped[str] = mapped_column(String(40), primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class InstanceLink(db.Model):
    """A link between two instances made by a message (incident -> problem -> change -> release)."""

    __tablename__ = "instance_link"
    __table_args__ = (UniqueConstraint("source_id", "target_id", "message"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    message: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    source: Mapped[ProcessInstance] = relationship(foreign_keys=[source_id])
    target: Mapped[ProcessInstance] = relationship(foreign_keys=[target_id])


class PendingMessage(db.Model):
    """A reply that arrived before its instance waited for it; delivered when the instance does."""

    __tablename__ = "pending_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    instance_id: Mapped[int] = mapped_column(ForeignKey("process_instance.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
