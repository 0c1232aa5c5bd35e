"""Interviews: the answers, kept apart from contact data and keyed by a pseudonymous ``resp_id``.

The engine state (plain JSON, see ``cati.questionnaires.state``) is stored after every answer,
so a reload, a crash or a lost connection resumes at the same question. ``revision`` is
SQLAlchemy's version counter: a save based on an older revision (a second browser tab, a
second interviewer, a retried request) fails instead of overwriting newer answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, BigId, UTCDateTime, utcnow


class Interview(Base):
    __tablename__ = "interviews"
    __table_args__ = (
        Index("ix_interviews_study_id_status", "study_id", "status"),
        Index("ix_interviews_interviewer_id_started_at", "interviewer_id", "started_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    #: One interview per case, resumed across calls; test interviews have no case.
    case_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("cases.id"), unique=True, default=None)
    version_id: Mapped[int] = mapped_column(ForeignKey("questionnaire_versions.id"))
    resp_id: Mapped[str] = mapped_column(String(36), unique=True)
    #: active, complete, ended (screened out, quota full, refused in the questionnaire),
    #: broken_off (resumable), invalidated (failed back-check: leaves quotas and exports)
    status: Mapped[str] = mapped_column(String(16), default="active")
    disposition: Mapped[str | None] = mapped_column(String(64), default=None)
    disposition_code: Mapped[int | None] = mapped_column(Integer, default=None)
    lang: Mapped[str] = mapped_column(String(8))
    interviewer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    state: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The export row (codebook order) once the interview has ended, so exports do not re-run
    #: the engine over every interview.
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    revision: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": revision}  # noqa: RUF012 - SQLAlchemy's declarative API
