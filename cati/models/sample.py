"""The sample: cases (pseudonymous, what the scheduler works on) kept apart from contacts
(names, numbers, addresses: personal data that can be erased without touching answers).

Scheduling state lives in indexed columns of ``cases`` so that "next case" is a handful of index
lookups, whatever the sample size (see ``cati.services.scheduler``):

* ``state``: ``ready`` (may be delivered when due), ``claimed`` (an interviewer has it),
  ``blocked`` (not callable until something changes: no legal basis, do-not-call, full quota
  cell; ``block_reason`` says why), ``final`` (a final disposition).
* ``tier``: delivery order between kinds of cases — 0 appointment, 1 retry, 2 fresh.
* ``zone_id``: the calling zone (time zone, country, German state). Whether a zone is inside its
  calling window is decided once per zone and draw, not once per case.
* ``order_key``: order within a tier: the due time (epoch seconds) for appointments and retries,
  a seeded random key for fresh cases — so the draw reads the index in order and stops at the
  first row.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .meta import Base, BigId, UTCDateTime, utcnow


class CallingZone(Base):
    """A time zone + country + German state: cases in one zone share calling hours and holidays."""

    __tablename__ = "calling_zones"
    __table_args__ = (UniqueConstraint("tz", "country", "region", name="uq_calling_zones_tz_country_region"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tz: Mapped[str] = mapped_column(String(64))
    country: Mapped[str] = mapped_column(String(2))
    region: Mapped[str] = mapped_column(String(8), default="")  # German state code, "" when unknown


class StudyZone(Base):
    """The calling zones a study's sample lies in (kept at import), so a draw knows which zones to
    consider without scanning the sample."""

    __tablename__ = "study_zones"

    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), primary_key=True)
    zone_id: Mapped[int] = mapped_column(ForeignKey("calling_zones.id"), primary_key=True)


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("study_id", "ref", name="uq_cases_study_id_ref"),
        Index("ix_cases_draw", "study_id", "state", "tier", "zone_id", "order_key"),
        Index("ix_cases_claimed", "state", "heartbeat_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    ref: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="ready")
    tier: Mapped[int] = mapped_column(SmallInteger, default=2)
    zone_id: Mapped[int] = mapped_column(ForeignKey("calling_zones.id"))
    order_key: Mapped[int] = mapped_column(BigInteger, default=0)
    next_call_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    #: Why a ``blocked`` case is blocked: ``legal`` (no legal basis), ``dnc``, ``quota``.
    block_kind: Mapped[str] = mapped_column(String(8), default="")
    block_reason: Mapped[str] = mapped_column(String(300), default="")
    # hard appointments: only this interviewer until reserved_until
    reserved_for: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    reserved_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None, index=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    attempts_day: Mapped[dt.date | None] = mapped_column(Date, default=None)  # local date of attempts_today
    attempts_today: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    outcome: Mapped[str] = mapped_column(String(32), default="")  # current disposition (outcome code)
    aapor: Mapped[str] = mapped_column(String(8), default="3.11")  # not attempted
    # calling-rule facts (not personal data: no name or number)
    person_type: Mapped[str] = mapped_column(String(10), default="private")
    customer: Mapped[bool] = mapped_column(Boolean, default=False)
    consent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    consent_source: Mapped[str] = mapped_column(String(200), default="")
    language: Mapped[str] = mapped_column(String(8), default="")
    #: Non-personal sample fields, readable by the questionnaire's ``sample:`` section.
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("sample_imports.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    zone: Mapped[CallingZone] = relationship()
    contact: Mapped[Contact | None] = relationship(back_populates="case", uselist=False)


class Contact(Base):
    """Personal data of a case, stored apart so it can be erased (GDPR) while answers stay."""

    __tablename__ = "contacts"

    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    postcode: Mapped[str] = mapped_column(String(16), default="")
    #: Sample fields marked ``pii`` (and columns we cannot tell are harmless).
    pii_fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    case: Mapped[Case] = relationship(back_populates="contact")
    phones: Mapped[list[CasePhone]] = relationship(order_by="CasePhone.position", cascade="all, delete-orphan")


class CasePhone(Base):
    """A number of a contact (E.164). Indexed per study for duplicate checks and inbound look-up."""

    __tablename__ = "case_phones"
    __table_args__ = (
        Index("ix_case_phones_study_id_e164", "study_id", "e164"),
        Index("ix_case_phones_e164", "e164"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("contacts.case_id"))
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    position: Mapped[int] = mapped_column(SmallInteger, default=1)
    e164: Mapped[str] = mapped_column(String(20))


class ContactChange(Base):
    """One changed value of a case's personal data: a contact correction in the console (``field``
    ``name`` or ``phone_N``; ``old_value`` None for an added number) or a supervisor's free-text
    note (``finalise_note``, ``appointment_note``; ``new_value`` is the note).

    The audit trail is append-only and can never be erased, so its event (``contact.change``,
    ``case.finalise``, ``case.appointment``) names who, when, the field and this row's id, and the
    values live here: erasing the contact deletes these rows, and the audit page shows "erased".
    """

    __tablename__ = "contact_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(String(2000), default=None)
    new_value: Mapped[str | None] = mapped_column(String(2000), default=None)


class SampleImport(Base):
    """One imported file: who, when, what came of it (the report shown after import)."""

    __tablename__ = "sample_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"), index=True)
    filename: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    imported: Mapped[int] = mapped_column(Integer, default=0)
    duplicates: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DoNotCall(Base):
    """A number that must never be called, in any study.

    Stored as a salted SHA-256 of the E.164 number so the block survives erasure of the contact
    without keeping the number itself.
    """

    __tablename__ = "do_not_call"

    number_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    source: Mapped[str] = mapped_column(String(200), default="")
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    added_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)


class Attempt(Base):
    """One call attempt: who dialled which of the case's numbers, when, and what came of it."""

    __tablename__ = "attempts"
    __table_args__ = (
        Index("ix_attempts_study_id_started_at", "study_id", "started_at"),
        Index("ix_attempts_user_id_started_at", "user_id", "started_at"),
        # Covering the productivity report: a day of a study read from the index alone.
        Index("ix_attempts_study_id_started_at_figures", "study_id", "started_at", "user_id", "ended_at", "outcome",
              "aapor", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    case_id: Mapped[int] = mapped_column(BigId, ForeignKey("cases.id"), index=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    phone_position: Mapped[int] = mapped_column(SmallInteger, default=1)
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    outcome: Mapped[str] = mapped_column(String(32))
    aapor: Mapped[str] = mapped_column(String(8))
    note: Mapped[str] = mapped_column(String(2000), default="")
