"""Accounts: creating users, checking passwords, and throttling repeated failed logins.

Passwords are hashed with argon2id (argon2-cffi defaults, salted per hash). Failed logins are
rows in ``login_failures`` so the throttle holds across several app processes and restarts.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, replace
from typing import Any

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


def _check_password(password: str) -> None:
    """The password rules of every account operation; raises :class:`UserError`."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"password: must be at least {MIN_PASSWORD_LENGTH} characters long")


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
    _check_password(password)
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


def get_user(session: Session, username: str) -> User:
    """The user with this login name; raises :class:`UserError` naming it if there is none."""
    user = session.scalar(select(User).where(User.username == username.strip().lower()))
    if user is None:
        raise UserError(f"username {username!r}: no such user")
    return user


def set_active(session: Session, user: User, active: bool, *, actor_id: int | None = None) -> None:
    """Deactivate (or reactivate) a user. Either way every session of the user ends (their
    ``session_version`` is bumped); a deactivated user can no longer log in. An admin cannot
    deactivate themself (``actor_id``), and nobody (the CLI has no actor) the last active admin, so
    nobody locks everybody out by a slip."""
    if not active and actor_id is not None and actor_id == user.id:
        raise UserError("user: you cannot deactivate your own account")
    if not active and user.role == "admin" and user.active and not session.scalar(
            select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True),
                                                         User.id != user.id)):
        raise UserError(f"user {user.username}: the last active admin cannot be deactivated")
    user.active = active
    user.session_version += 1
    audit.record(session, "user.activate" if active else "user.deactivate", user_id=actor_id,
                 target=f"user:{user.id}")


def set_password(session: Session, user: User, password: str, *, actor_id: int | None = None) -> None:
    """Set a new password (the rules of :func:`create_user`) and end every session of the user; the
    audit event names who changed whose password, never the password."""
    _check_password(password)
    user.password_hash = hash_password(password)
    user.session_version += 1
    audit.record(session, "user.password", user_id=actor_id, target=f"user:{user.id}")


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


@dataclass(frozen=True)
class LoginCheck:
    """What :func:`check_login` found, handed to :func:`finish_login`. ``password_hash`` is the hash
    the password was verified against (``None``: no such user)."""

    username: str
    remote_addr: str
    now: dt.datetime
    max_failures: int
    lockout_seconds: int
    retry_after: int = 0  # > 0: throttled, nothing was verified
    password_hash: str | None = None
    verified: bool = False


def _retry_after(session: Session, check: LoginCheck) -> int:
    """Seconds until the throttle lets this username/address try again; 0 if it does now."""
    now = check.now
    since = now - dt.timedelta(seconds=check.lockout_seconds)
    recent_user = session.scalars(
        select(LoginFailure.at).where(LoginFailure.username == check.username, LoginFailure.at >= since)
    ).all()
    recent_addr = 0
    if check.remote_addr:
        recent_addr = session.scalar(
            select(func.count())
            .select_from(LoginFailure)
            .where(LoginFailure.remote_addr == check.remote_addr, LoginFailure.at >= since)
        ) or 0
    if len(recent_user) < check.max_failures and recent_addr < 5 * check.max_failures:
        return 0
    oldest = min(recent_user) if len(recent_user) >= check.max_failures else now
    return max(1, int((oldest + dt.timedelta(seconds=check.lockout_seconds) - now).total_seconds()))


def check_login(
    session: Session,
    username: str,
    password: str,
    *,
    remote_addr: str = "",
    max_failures: int = 5,
    lockout_seconds: int = 300,
    now: dt.datetime | None = None,
) -> LoginCheck:
    """The slow, read-only half of :func:`authenticate`: the throttle, then the password against the
    user's hash (or a dummy one). Writes nothing, so the web runs it in a read-only transaction,
    outside the SQLite write lock."""
    check = LoginCheck(
        username=username.strip().lower()[:64], remote_addr=remote_addr, now=now or utcnow(),
        max_failures=max_failures, lockout_seconds=lockout_seconds,
    )
    retry_after = _retry_after(session, check)
    if retry_after:
        return replace(check, retry_after=retry_after)
    password_hash = session.scalar(select(User.password_hash).where(User.username == check.username))
    verified = verify_password(password_hash or _DUMMY_HASH, password)
    return replace(check, password_hash=password_hash, verified=verified)


def finish_login(session: Session, check: LoginCheck, password: str) -> LoginResult:
    """The writing half of :func:`authenticate`, in the transaction that stores its outcome: records
    the failure, or clears the failures and notes the login. The throttle is asked again (attempts
    verified side by side must not get past it); a hash that changed since :func:`check_login` is
    verified again."""
    if check.retry_after:
        return LoginResult(None, throttled=True, retry_after=check.retry_after)
    retry_after = _retry_after(session, check)
    if retry_after:
        return LoginResult(None, throttled=True, retry_after=retry_after)
    user = session.scalar(select(User).where(User.username == check.username))
    ok = check.verified
    if user is not None and user.password_hash != check.password_hash:
        ok = verify_password(user.password_hash, password)
    if user is None or not ok or not user.active:
        session.add(LoginFailure(username=check.username, remote_addr=check.remote_addr[:64], at=check.now))
        return LoginResult(None)
    session.execute(delete(LoginFailure).where(LoginFailure.username == check.username))
    user.last_login_at = check.now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return LoginResult(user)


def authenticate(session: Session, username: str, password: str, **options: Any) -> LoginResult:
    """Check a login (``options``: those of :func:`check_login`). After ``max_failures`` failures
    within ``lockout_seconds`` for a username (or from one address, at five times that many) further
    attempts are refused until the window has passed, even with the right password, so guessing
    cannot continue.

    :func:`check_login` then :func:`finish_login` in one session; callers that can, read in a
    read-only transaction first and finish in the writing one (see the login view)."""
    return finish_login(session, check_login(session, username, password, **options), password)
