"""Writing to the append-only audit trail, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cati.models import AuditEvent, Case, ContactChange


def record(
    session: Session,
    action: str,
    *,
    user_id: int | None = None,
    study_id: int | None = None,
    target: str = "",
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit event; it commits or rolls back together with the change it describes."""
    event = AuditEvent(action=action, user_id=user_id, study_id=study_id, target=target, details=details or {})
    session.add(event)
    return event


def personal_value(
    session: Session,
    case: Case,
    field: str,
    old: str | None,
    new: str | None,
    *,
    user_id: int | None = None,
) -> ContactChange:
    """Keep a changed personal value (a name, a number, a free-text note) where erasure reaches it,
    for an audit event to name by id (``ContactChange.id``) instead of holding the value: the
    trail cannot be changed, so it must never hold what a respondent may have erased."""
    row = ContactChange(case_id=case.id, study_id=case.study_id, user_id=user_id, field=field, old_value=old,
                        new_value=new)
    session.add(row)
    session.flush()
    return row
