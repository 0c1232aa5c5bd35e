"""Accounts: creating users, checking passwords, and throttling repeated failed logins.

Passwords are hashed with argon2id (argon2-cffi defaults, salted per hash). Failed logins are
rows in ``login_failures`` so the throttle holds across several app processes and restarts.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cati.models import Client, LoginFailure, Role, User
from cati.models.meta import utcnow

from . import audit

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so a wrong username costs as long as a wrong
#: password and response times do not reveal which usernames exist.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
MIN_PASSWORD_LENGTH = 8


class UserError(ValueError):
    """Bad input for an account operation; the message names the field."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _next_code(session: Session, role: str) -> str:
    prefix = {"interviewer": "I", "supervisor": "S", "researcher": "R", "admin": "A", "client": "C"}[role]
    count = session.scalar(select(func.count()).select_from(User).where(User.code.like(f"{prefix}%"))) or 0
    return f"{prefix}{count + 1:04d}"


def create_user(
    session: Session,
    username: str,
    *,
    role: str,
    password: str,
    display_name: str | None = None,
    first_name: str | None = None,
    client: str | None = None,
    locale: str | None = None,
    actor_id: int | None = None,
) -> User:
    """Create a user; raises :class:`UserError` naming the field that is wrong."""
    username = username.strip().lower()
    if not USERNAME_RE.match(username):
        raise UserError(
            f"username {username!r}: use 2-64 characters: lower-case letters, digits, '.', '_' or '-'"
        )
    if role not in {r.value for r in Role}:
        raise UserError(f"role {role!r}: must be one of {', '.join(r.value for r in Role)}")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: must be at least {MIN_PASSWORD_LENGTH} characters long")
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise UserError(f"username {username!r}: already exists")
    client_row = None
    if role == Role.CLIENT:
        if not client:
            raise UserError("client: a client user needs the client organisation it belongs to")
        client_row = get_or_create_client(session, client)
    elif client:
        raise UserError("client: only users with role 'client' belong to a client organisation")
    user = User(
        username=username,
        role=role,
        password_hash=hash_password(password),
        display_name=display_name or username,
        first_name=first_name or (display_name or username).split()[0].capitalize(),
        client=client_row,
        locale=locale,
        code=_next_code(session, role),
    )
    session.add(user)
    session.flush()
    audit.record(session, "user.create", user_id=actor_id, target=f"user:{user.id}", details={"role": role})
    return user


def get_or_create_client(session: Session, name: str) -> Client:
    row = session.scalar(select(Client).where(Client.name == name))
    if row is None:
        row = Client(name=name)
        session.add(row)
        session.flush()
    return row


@dataclass(frozen=True)
class LoginResult:
    user: User | None
    throttled: bool = False
    retry_after: int = 0


def authenticate(
    session: Session,
    username: str,
    password: str,
    *,
    remote_addr: str = "",
    max_failures: int = 5,
    lockout_seconds: int = 300,
    now: dt.datetime | None = None,
) -> LoginResult:
    """Check a login. After ``max_failures`` failures within ``lockout_seconds`` for a username
    (or from one address, at five times that many) further attempts are refused until the window
    has passed, even with the right password, so guessing cannot continue."""
    now = now or utcnow()
    username = username.strip().lower()[:64]
    since = now - dt.timedelta(seconds=lockout_seconds)
    recent_user = session.scalars(
        select(LoginFailure.at).where(LoginFailure.username == username, LoginFailure.at >= since)
    ).all()
    recent_addr = 0
    if remote_addr:
        recent_addr = session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.remote_addr == remote_addr, LoginFailure.at >= since)
        ) or 0
    if len(recent_user) >= max_failures or recent_addr >= 5 * max_failures:
        oldest = min(recent_user) if len(recent_user) >= max_failures else now
        retry_after = max(1, int((oldest + dt.timedelta(seconds=lockout_seconds) - now).total_seconds()))
        return LoginResult(None, throttled=True, retry_after=retry_after)

    user = session.scalar(select(User).where(User.username == username))
    ok = verify_password(user.password_hash if user else _DUMMY_HASH, password)
    if user is None or not ok or not user.active:
        session.add(LoginFailure(username=username, remote_addr=remote_addr[:64], at=now))
        return LoginResult(None)
    session.execute(delete(LoginFailure).where(LoginFailure.username == username))
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return LoginResult(user)
