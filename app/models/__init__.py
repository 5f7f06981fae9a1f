"""Database models: data and invariants only."""
from .cmdb import ConfigurationItem
from .identity import Group, Organisation, OrgLevel, User, UserGroup
from .incident import Incident, IncidentCI
from .knowledge import KnowledgeArticle
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
    "ConfigurationItem",
    "Event",
    "Group",
    "HumanTask",
    "Incident",
    "IncidentCI",
    "InstanceLink",
    "KnowledgeArticle",
    "OrgLevel",
    "Organisation",
    "PendingMessage",
    "ProcessInstance",
    "ProcessVersion",
    "User",
    "UserGroup",
]
