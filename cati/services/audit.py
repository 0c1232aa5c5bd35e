"""Writing to the append-only audit trail, inside the caller's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cati.models import AuditEvent


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
