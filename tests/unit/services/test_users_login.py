"""Logins checked in one transaction and finished in another (the web's read-only verification)."""

from __future__ import annotations

from argon2 import PasswordHasher
from sqlalchemy import func, select

from cati.models import LoginFailure, User
from cati.services.users import authenticate, check_login, finish_login, hash_password

PASSWORD = "correct horse 42"


def _user(session, password_hash):
    user = User(username="rita", role="researcher", password_hash=password_hash, display_name="Rita",
                first_name="Rita", code="T-login-1")
    session.add(user)
    session.flush()
    return user


def _failures(session):
    return session.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.username == "rita"))


def test_hash_changed_after_the_check_is_verified_again(dbsession):
    user = _user(dbsession, hash_password(PASSWORD))
    old_password_check = check_login(dbsession, "rita", PASSWORD)
    new_password_check = check_login(dbsession, "rita", "new password 42")
    assert old_password_check.verified and not new_password_check.verified
    user.password_hash = hash_password("new password 42")  # changed by an admin meanwhile
    dbsession.flush()
    assert finish_login(dbsession, old_password_check, PASSWORD).user is None
    assert _failures(dbsession) == 1
    assert finish_login(dbsession, new_password_check, "new password 42").user is user
    assert _failures(dbsession) == 0


def test_attempts_checked_side_by_side_are_throttled_when_finished(dbsession):
    _user(dbsession, hash_password(PASSWORD))
    checks = [check_login(dbsession, "rita", "wrong password") for _ in range(6)]
    right = check_login(dbsession, "rita", PASSWORD)
    results = [finish_login(dbsession, check, "wrong password") for check in checks]
    assert [r.throttled for r in results] == [False] * 5 + [True]
    assert _failures(dbsession) == 5
    result = finish_login(dbsession, right, PASSWORD)
    assert result.user is None and result.throttled and result.retry_after > 0


def test_weak_hash_is_replaced_at_login(dbsession):
    user = _user(dbsession, PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD))
    weak = user.password_hash
    assert authenticate(dbsession, "RITA ", PASSWORD).user is user
    assert user.password_hash != weak and user.last_login_at is not None
    assert authenticate(dbsession, "rita", PASSWORD).user is user
