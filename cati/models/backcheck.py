"""Back-checks (quality control): completed interviews drawn for verification, one row each.

A share of each interviewer's completes is drawn (industry practice: 10 %); a supervisor calls
the respondent back and records whether the interview took place as recorded. A failed check can
invalidate the interview, which then leaves its quota cells and the data exports.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, BigId, UTCDateTime, utcnow

#: pending: drawn, not checked yet; passed / failed: the recorded result.
BACKCHECK_STATUSES = ("pending", "passed", "failed")


class BackCheck(Base):
    __tablename__ = "backchecks"
    __table_args__ = (
        Index("ix_backchecks_study_id_status", "study_id", "status"),
        Index("ix_backchecks_study_id_interviewer_id", "study_id", "interviewer_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    interview_id: Mapped[int] = mapped_column(BigId, ForeignKey("interviews.id"), unique=True)
    interviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    drawn_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    drawn_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    checked_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    note: Mapped[str] = mapped_column(String(2000), default="")
    #: The failed check invalidated the interview (it left quotas and exports).
    invalidated: Mapped[bool] = mapped_column(Boolean, default=False)
