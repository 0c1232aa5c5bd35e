"""People who log in, the client organisations they may belong to, and failed logins."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .meta import Base, BigId, UTCDateTime, utcnow


class Role(enum.StrEnum):
    ADMIN = "admin"
    RESEARCHER = "researcher"
    SUPERVISOR = "supervisor"
    INTERVIEWER = "interviewer"
    CLIENT = "client"


class Client(Base):
    """The organisation that commissioned studies; its users see only its studies."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)

    users: Mapped[list[User]] = relationship(back_populates="client")


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)  # stored lower-case
    display_name: Mapped[str] = mapped_column(String(200))
    first_name: Mapped[str] = mapped_column(String(100), default="")  # read out as {$interviewer}
    role: Mapped[str] = mapped_column(String(20))
    password_hash: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(5), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Stored in the session cookie at login; a session holding another value is logged out.
    #: Deactivation and a password change bump it, ending every session of the user at once.
    session_version: Mapped[int] = mapped_column(default=0, server_default="0")
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id"), default=None)
    #: Pseudonymous code exported instead of the person (``interviewer_id`` in data sets).
    code: Mapped[str] = mapped_column(String(16), unique=True)
    #: Interviewer skills the scheduler honours: ``{"languages": ["de", "tr"], "refusal_conversion": true}``;
    #: no languages listed = no language restriction.
    skills: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)

    client: Mapped[Client | None] = relationship(back_populates="users")

    def __repr__(self) -> str:
        return f"<User {self.username} ({self.role})>"


class LoginFailure(Base):
    """One failed login; recent rows per username and per address drive the throttle."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_at", "username", "at"),
        Index("ix_login_failures_remote_addr_at", "remote_addr", "at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    username: Mapped[str] = mapped_column(String(64))
    remote_addr: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WorkSession(Base):
    """An interviewer's time logged in: from login to logout, or to the last sign of life
    (``last_seen_at``: heartbeats and "Next case", at most once a minute) when the browser was
    closed without logging out. The productivity page adds these up per day."""

    __tablename__ = "work_sessions"
    __table_args__ = (Index("ix_work_sessions_user_id_started_at", "user_id", "started_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), default=None)
