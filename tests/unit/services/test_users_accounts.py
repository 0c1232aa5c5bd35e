"""Deactivating users and changing passwords: every session ends, the audit trail says who did it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from cati.models import AuditEvent, User
from cati.services.users import (
    UserError,
    authenticate,
    create_user,
    get_user,
    set_active,
    set_password,
    verify_password,
)

PASSWORD = "correct horse 42"


@pytest.fixture
def people(dbsession):
    admin = create_user(dbsession, "alice", role="admin", password=PASSWORD)
    ines = create_user(dbsession, "ines", role="interviewer", password=PASSWORD)
    return admin, ines


def _events(session, action, user):
    return session.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                    AuditEvent.target == f"user:{user.id}")).all()


def test_new_users_start_at_session_version_0(people):
    assert [u.session_version for u in people] == [0, 0]


def test_deactivate_and_activate_bump_the_version_and_are_audited(dbsession, people):
    admin, ines = people
    set_active(dbsession, ines, False, actor_id=admin.id)
    assert not ines.active and ines.session_version == 1
    assert authenticate(dbsession, "ines", PASSWORD).user is None
    set_active(dbsession, ines, True, actor_id=admin.id)
    assert ines.active and ines.session_version == 2
    assert authenticate(dbsession, "ines", PASSWORD).user is ines
    [off] = _events(dbsession, "user.deactivate", ines)
    [on] = _events(dbsession, "user.activate", ines)
    assert off.user_id == on.user_id == admin.id


def test_admin_cannot_deactivate_themself(dbsession, people):
    admin, _ = people
    with pytest.raises(UserError, match="your own account"):
        set_active(dbsession, admin, False, actor_id=admin.id)
    assert admin.active and admin.session_version == 0
    assert _events(dbsession, "user.deactivate", admin) == []


def test_set_password_bumps_the_version_and_never_records_the_password(dbsession, people):
    admin, ines = people
    set_password(dbsession, ines, "brand new secret", actor_id=admin.id)
    assert ines.session_version == 1
    assert verify_password(ines.password_hash, "brand new secret")
    assert not verify_password(ines.password_hash, PASSWORD)
    [event] = _events(dbsession, "user.password", ines)
    assert event.user_id == admin.id
    assert "brand new secret" not in repr(event.details) and "hash" not in repr(event.details)


def test_set_password_follows_the_rules_of_create_user(dbsession, people):
    _, ines = people
    old_hash = ines.password_hash
    with pytest.raises(UserError, match="at least 8 characters"):
        set_password(dbsession, ines, "short")
    assert ines.password_hash == old_hash and ines.session_version == 0
    assert _events(dbsession, "user.password", ines) == []


def test_get_user_names_the_unknown_user(dbsession, people):
    assert get_user(dbsession, " INES ").username == "ines"
    with pytest.raises(UserError, match="'nobody': no such user"):
        get_user(dbsession, "nobody")
    assert dbsession.scalar(select(User).where(User.username == "nobody")) is None


def test_the_last_active_admin_cannot_be_deactivated_even_without_an_actor(dbsession, people):
    admin, ines = people
    with pytest.raises(UserError, match="last active admin"):
        set_active(dbsession, admin, False)  # as the CLI does: no acting user
    assert admin.active
    second = create_user(dbsession, "bert", role="admin", password=PASSWORD)
    set_active(dbsession, admin, False, actor_id=second.id)
    assert not admin.active
    set_active(dbsession, ines, False)  # interviewers: no such rule
    assert not ines.active
