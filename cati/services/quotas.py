"""Quota gate for interviews run against the database.

Placeholder until the quota service lands (issue: quotas): every cell counts as open, as in
``cati simulate`` offline. The interview service already calls these hooks at the points where
reservations are taken and released.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from cati.models import Interview, Study
from cati.questionnaires.engine import OfflineQuotaGate


def gate_for(session: Session, study: Study, interview: Interview) -> Any:
    return OfflineQuotaGate()


def on_interview_end(session: Session, interview: Interview) -> None:
    """An interview ended (complete or not): its reservations become counts or are released."""


def on_interview_pause(session: Session, interview: Interview) -> None:
    """An interview was broken off: its pending reservations are released until it resumes."""
