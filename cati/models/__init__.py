"""SQLAlchemy models. Import every model module here so ``Base.metadata`` is complete for
alembic and for tests."""

from .audit import AuditEvent
from .backcheck import BackCheck
from .export_job import ExportJob
from .fieldwork import CaseTally
from .interview import Interview
from .meta import Base
from .quota import QuotaCell, QuotaReservation
from .sample import (
    Attempt,
    CallingZone,
    Case,
    CasePhone,
    Contact,
    ContactChange,
    DoNotCall,
    SampleImport,
    StudyZone,
)
from .study import Purpose, QuestionnaireVersion, Study, StudyMember, StudyStatus
from .user import Client, LoginFailure, Role, User, WorkSession

__all__ = [
    "Attempt",
    "AuditEvent",
    "BackCheck",
    "Base",
    "CallingZone",
    "Case",
    "CasePhone",
    "CaseTally",
    "Client",
    "Contact",
    "ContactChange",
    "DoNotCall",
    "ExportJob",
    "Interview",
    "LoginFailure",
    "Purpose",
    "QuestionnaireVersion",
    "QuotaCell",
    "QuotaReservation",
    "Role",
    "SampleImport",
    "Study",
    "StudyMember",
    "StudyStatus",
    "StudyZone",
    "User",
    "WorkSession",
]
