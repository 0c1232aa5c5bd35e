"""Data exports built in the background: one row per requested file, with its progress.

A job is requested in the client portal (or by ``cati export``'s web twin), claimed by one worker
with a guarded ``UPDATE ... WHERE status = 'queued'`` and written to ``<cati.export_dir>/<id>/``.
``fingerprint`` names the data it was built from (see :mod:`cati.services.export_jobs`): a later
request for the same study, format and options whose data have not changed gets the finished job
again instead of a new file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from .meta import Base, BigId, UTCDateTime, utcnow

#: queued -> running -> done | failed; a done job whose file a newer one replaced is expired.
EXPORT_JOB_STATUSES = ("queued", "running", "done", "failed", "expired")


class ExportJob(Base):
    __tablename__ = "export_jobs"
    __table_args__ = (
        Index("ix_export_jobs_study_id_fingerprint", "study_id", "fingerprint"),
        Index("ix_export_jobs_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id"))
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    format: Mapped[str] = mapped_column(String(8))
    #: What was asked for: groups, test data, date range, language (see ``Selection.to_json``).
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The contact export (personal data; its own permission, never served from the cache).
    contacts: Mapped[bool] = mapped_column(Boolean, default=False)
    #: Format + options + the state of the selected interviews; equal fingerprints, equal files.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    #: The file offered for download (a zip when the format writes several files) and its size.
    download: Mapped[str] = mapped_column(String(200), default="")
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[list[str]] = mapped_column(JSON, default=list)
    error: Mapped[str] = mapped_column(String(2000), default="")
    worker: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
