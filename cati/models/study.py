"""Studies, their immutable questionnaire versions, and who works on them."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .meta import Base, UTCDateTime, utcnow
from .user import Client, User


class Purpose(enum.StrEnum):
    RESEARCH = "research"
    CUSTOMER_SATISFACTION = "customer_satisfaction"
    TELEMARKETING = "telemarketing"


class StudyStatus(enum.StrEnum):
    DRAFT = "draft"
    FIELD = "field"
    PAUSED = "paused"
    CLOSED = "closed"


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), default=None, index=True)
    purpose: Mapped[str] = mapped_column(String(32), default=Purpose.RESEARCH.value)
    status: Mapped[str] = mapped_column(String(16), default=StudyStatus.DRAFT.value, index=True)
    #: Fieldwork settings (calling-hours profile, attempts, retry delays, ...), validated by
    #: ``cati.services.study_settings`` before they are stored.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    client: Mapped[Client | None] = relationship()
    versions: Mapped[list[QuestionnaireVersion]] = relationship(
        back_populates="study", order_by="QuestionnaireVersion.version"
    )
    members: Mapped[list[StudyMember]] = relationship(back_populates="study", cascade="all, delete-orphan")

    @property
    def current_version(self) -> QuestionnaireVersion | None:
        return self.versions[-1] if self.versions else None


class QuestionnaireVersion(Base):
    """The YAML text of one published version, never changed once stored: interviews point at it."""

    __tablename__ = "questionnaire_versions"
    __table_args__ = (UniqueConstraint("study_id", "version", name="uq_questionnaire_versions_study_version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    questionnaire_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    source: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    published_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)

    study: Mapped[Study] = relationship(back_populates="versions")


class StudyMember(Base):
    """An interviewer, supervisor or researcher assigned to a study."""

    __tablename__ = "study_members"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True, index=True)

    study: Mapped[Study] = relationship(back_populates="members")
    user: Mapped[User] = relationship()
