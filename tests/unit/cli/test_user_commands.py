"""`cati user passwd|deactivate|activate` against the test database (real commits)."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.cli import main
from cati.models import AuditEvent, User
from cati.services.users import verify_password


@pytest.fixture
def anna(ini, engine, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("geheim-passwort\n"))
    assert main(["user", "add", "anna", "--role", "interviewer", "--password-stdin", "-c", ini]) == 0


def _anna(engine):
    with Session(engine) as session:
        user = session.scalar(select(User).where(User.username == "anna"))
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.target == f"user:{user.id}")
                                  .order_by(AuditEvent.id)).all()
        return user, actions


def test_passwd_from_stdin_sets_the_password_and_ends_sessions(ini, engine, anna, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("neues-passwort\n"))
    assert main(["user", "passwd", "Anna", "--password-stdin", "-c", ini]) == 0
    assert "password of anna changed" in capsys.readouterr().out
    user, actions = _anna(engine)
    assert verify_password(user.password_hash, "neues-passwort")
    assert user.session_version == 1
    assert actions == ["user.create", "user.password"]


def test_passwd_asks_twice_on_a_terminal(ini, engine, anna, monkeypatch):
    answers = iter(["neues-passwort", "neues-passwort"])
    monkeypatch.setattr("sys.stdin.isatty", lambda: True, raising=False)
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert main(["user", "passwd", "anna", "-c", ini]) == 0
    assert verify_password(_anna(engine)[0].password_hash, "neues-passwort")


def test_passwd_too_short_exits_1_and_changes_nothing(ini, engine, anna, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("kurz\n"))
    assert main(["user", "passwd", "anna", "--password-stdin", "-c", ini]) == 1
    assert "password: must be at least" in capsys.readouterr().err
    user, actions = _anna(engine)
    assert verify_password(user.password_hash, "geheim-passwort") and user.session_version == 0
    assert actions == ["user.create"]


def test_deactivate_then_activate(ini, engine, anna, capsys):
    assert main(["user", "deactivate", "anna", "-c", ini]) == 0
    assert "anna deactivated" in capsys.readouterr().out
    user, _ = _anna(engine)
    assert (user.active, user.session_version) == (False, 1)
    assert main(["user", "activate", "anna", "-c", ini]) == 0
    assert "anna activated" in capsys.readouterr().out
    user, actions = _anna(engine)
    assert (user.active, user.session_version) == (True, 2)
    assert actions == ["user.create", "user.deactivate", "user.activate"]


@pytest.mark.parametrize("argv", [["deactivate", "nobody"], ["activate", "nobody"],
                                  ["passwd", "nobody", "--password-stdin"]])
def test_unknown_user_is_named_and_exits_1(ini, engine, monkeypatch, capsys, argv):
    monkeypatch.setattr("sys.stdin", io.StringIO("geheim-passwort\n"))
    assert main(["user", *argv, "-c", ini]) == 1
    assert "'nobody': no such user" in capsys.readouterr().err
