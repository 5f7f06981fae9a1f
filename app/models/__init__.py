"""Database models: data and invariants only."""
from .assets import Asset, AssetHistory
from .audit import AuditView, SecurityEvent
from .cmdb import CIBaseline, CIChange, CIRelation, ConfigurationItem
from .identity import DispatchRule, Group, Organisation, OrgLevel, User, UserGroup
from .incident import Incident, IncidentCI
from .jobs import DueTimer, OutboxJob, ProcessSchedule
from .knowledge import KnowledgeArticle, KnowledgeAttachment, KnowledgeFeedback, KnowledgeTerm
from .kpi import KpiTarget
from .monitoring import InboundMail, MonitoringAlert
from .notifications import Notification, NotificationPreference
from .problem import KnownError
from .process import (
    BusinessKeyCounter,
    CaseAttachment,
    Event,
    HumanTask,
    InstanceLink,
    PendingMessage,
    ProcessInstance,
    ProcessVersion,
)
from .sla import BusinessCalendar, SlaClock, SlaPause, SlaReport
from .vendors import Vendor, VendorEvaluation, VendorStaff

__all__ = [
    "Asset",
    "AssetHistory",
    "CIBaseline",
    "CIRelation",
    "KnowledgeAttachment",
    "KpiTarget",
    "DispatchRule",
    "Vendor",
    "VendorEvaluation",
    "VendorStaff",
    "KnowledgeFeedback",
    "KnowledgeTerm",
    "MonitoringAlert",
    "InboundMail",
    "AuditView",
    "SecurityEvent",
    "BusinessCalendar",
    "BusinessKeyCounter",
    "CaseAttachment",
    "CIChange",
    "ConfigurationItem",
    "DueTimer",
    "Event",
    "Group",
    "HumanTask",
    "Incident",
    "IncidentCI",
    "InstanceLink",
    "KnowledgeArticle",
    "KnownError",
    "Notification",
    "NotificationPreference",
    "OrgLevel",
    "OutboxJob",
    "Organisation",
    "PendingMessage",
    "ProcessInstance",
    "ProcessSchedule",
    "ProcessVersion",
    "SlaClock",
    "SlaPause",
    "SlaReport",
    "User",
    "UserGroup",
]
