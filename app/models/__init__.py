"""Database models: data and invariants only."""
from .cmdb import CIChange, ConfigurationItem
from .identity import Group, Organisation, OrgLevel, User, UserGroup
from .incident import Incident, IncidentCI
from .knowledge import KnowledgeArticle
from .problem import KnownError
from .process import (
    BusinessKeyCounter,
    Event,
    HumanTask,
    InstanceLink,
    PendingMessage,
    ProcessInstance,
    ProcessVersion,
)

__all__ = [
    "BusinessKeyCounter",
    "CIChange",
    "ConfigurationItem",
    "Event",
    "Group",
    "HumanTask",
    "Incident",
    "IncidentCI",
    "InstanceLink",
    "KnowledgeArticle",
    "KnownError",
    "OrgLevel",
    "Organisation",
    "PendingMessage",
    "ProcessInstance",
    "ProcessVersion",
    "User",
    "UserGroup",
]
