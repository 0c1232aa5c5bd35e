"""Quota counters and the reservations behind them.

``quota_cells`` holds one row per study, quota and cell: the effective target and mode (the
questionnaire's defaults or a supervisor's change) and the running counts. The counts are changed
incrementally in the transaction that changes a reservation, and the row is locked first
(``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already serialises
writers), so the row is the point where concurrent interviews of one cell queue: "is there room?"
and "take a place" happen together.

``quota_reservations`` says where each interview stands in each quota it passed: one row per
interview and quota. Only ``pending`` and ``complete`` rows count; the others stay for the
record (attempts per complete, rejected interviews per cell):

* ``pending``: passed the checkpoint, still running — holds a place;
* ``complete``: the interview completed in this cell;
* ``suspended``: broken off or its interviewer disappeared — the place is free again; retaken
  (or refused, if the cell filled meanwhile) when the interview resumes;
* ``released``: ended without completing, left the cell after a changed answer, or the quota
  checkpoint is no longer on its route;
* ``rejected``: the cell was full when the interview reached the checkpoint (or resumed);
* ``invalidated``: a completed interview a supervisor invalidated (failed back-check).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, SmallInteger, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, BigId, UTCDateTime, utcnow

#: Reservation states that hold or use a place in the cell.
COUNTED = ("pending", "complete")


class QuotaCell(Base):
    __tablename__ = "quota_cells"
    __table_args__ = (UniqueConstraint("study_id", "quota", "cell", name="uq_quota_cells_study_id_quota_cell"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    quota: Mapped[str] = mapped_column(String(64))
    cell: Mapped[str] = mapped_column(String(64))
    #: Order of the quota in the questionnaire and of the cell in its quota (display, matching).
    quota_position: Mapped[int] = mapped_column(SmallInteger, default=1)
    position: Mapped[int] = mapped_column(SmallInteger, default=1)
    #: Effective target; None counts without a cap.
    target: Mapped[int | None] = mapped_column(Integer, default=None)
    #: hard | soft | counter — the mode of the quota, kept on each of its cells so the room check
    #: reads one locked row.
    mode: Mapped[str] = mapped_column(String(8), default="hard")
    overshoot: Mapped[float] = mapped_column(Float, default=0.0)
    #: Every cell condition of the quota uses sample fields only: the scheduler can hold cases back.
    sample_only: Mapped[bool] = mapped_column(Boolean, default=False)
    completes: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class QuotaReservation(Base):
    __tablename__ = "quota_reservations"
    __table_args__ = (
        UniqueConstraint("interview_id", "quota", name="uq_quota_reservations_interview_id_quota"),
        Index("ix_quota_reservations_cell_id_status", "cell_id", "status"),
        Index("ix_quota_reservations_study_id_status", "study_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    interview_id: Mapped[int] = mapped_column(BigId, ForeignKey("interviews.id"))
    quota: Mapped[str] = mapped_column(String(64))
    cell_id: Mapped[int] = mapped_column(ForeignKey("quota_cells.id"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
