"""`cati initdb`, `user add`, `study create|publish|set` against the test database (real commits)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.cli import main
from cati.models import AuditEvent, QuestionnaireVersion, Study, User


def _rows(engine, model):
    with Session(engine) as session:
        return session.scalars(select(model)).all()


def test_user_add_reads_password_from_stdin(ini, engine, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO("geheim-passwort\n"))
    assert main(["user", "add", "Anna", "--role", "interviewer", "--password-stdin", "-c", ini]) == 0
    assert "created interviewer anna" in capsys.readouterr().out
    [user] = _rows(engine, User)
    assert (user.username, user.role, user.first_name) == ("anna", "interviewer", "Anna")
    assert user.password_hash.startswith("$argon2id$")


def test_config_option_before_the_subcommand(ini, engine, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("geheim-passwort\n"))
    assert main(["-c", ini, "user", "add", "ben", "--role", "supervisor", "--password-stdin"]) == 0
    assert [u.username for u in _rows(engine, User)] == ["ben"]


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["user", "add", "xaver", "--role", "interviewer", "--password-stdin"], "kurz\n", "password: must be at least"),
        (["user", "add", "kunde", "--role", "client", "--password-stdin"], "geheim-passwort\n", "client:"),
        (["user", "add", "Bad Name", "--role", "admin", "--password-stdin"], "geheim-passwort\n", "username"),
    ],
)
def test_user_add_bad_input_exits_1_and_changes_nothing(ini, engine, monkeypatch, capsys, argv, stdin, message):
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    assert main([*argv, "-c", ini]) == 1
    assert message in capsys.readouterr().err
    assert _rows(engine, User) == []


def test_user_add_unknown_role_is_usage_error(ini):
    with pytest.raises(SystemExit) as exc:
        main(["user", "add", "x", "--role", "boss", "-c", ini])
    assert exc.value.code == 2


def test_missing_config_is_reported(tmp_path, capsys):
    assert main(["-c", str(tmp_path / "nope.ini"), "study", "set", "x", "status=field"]) == 1
    assert "not found" in capsys.readouterr().err


def test_study_create_publish_set(ini, engine, ebike, tmp_path, capsys):
    assert main(["study", "create", "--questionnaire", str(ebike), "--purpose", "research", "-c", ini]) == 0
    assert capsys.readouterr().out.strip() == "ebike_abo_konzept"
    [study] = _rows(engine, Study)
    assert (study.status, study.purpose) == ("draft", "research")

    newer = tmp_path / "ebike_v4.yaml"
    newer.write_text(Path(ebike).read_text().replace("version: 3", "version: 4", 1))
    assert main(["study", "publish", "ebike_abo_konzept", "--questionnaire", str(newer), "-c", ini]) == 0
    assert [v.version for v in _rows(engine, QuestionnaireVersion)] == [3, 4]

    # The same version again is refused and changes nothing.
    assert main(["study", "publish", "ebike_abo_konzept", "--questionnaire", str(newer), "-c", ini]) == 1
    assert "must be higher" in capsys.readouterr().err
    assert len(_rows(engine, QuestionnaireVersion)) == 2

    assert main(["study", "set", "ebike_abo_konzept", "status=field", "max_attempts=8",
                 "quota.alter_geschlecht.m_18_44=140", "backcheck_share=15%", "aapor_e=0.6",
                 "aapor_e_basis=share eligible among resolved cases of the 2025 wave", "-c", ini]) == 0
    [study] = _rows(engine, Study)
    assert study.status == "field"
    assert study.settings["max_attempts"] == 8
    assert (study.settings["backcheck_share"], study.settings["aapor_e"]) == (0.15, 0.6)
    assert study.settings["quota_targets"] == {"alter_geschlecht": {"m_18_44": 140}}
    actions = [e.action for e in _rows(engine, AuditEvent)]
    assert actions == ["study.create", "study.publish", "study.settings"]


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["max_attempts=0"], "max_attempts: must be between 1 and 50"),
        (["status=running"], "status: must be one of"),
        (["quota.alter_geschlecht.x_1=5"], "unknown cell 'x_1'"),
        (["quota.nope.m_18_44=5"], "unknown quota 'nope'"),
        (["calling_profile=custom"], "calling_windows: the custom profile needs calling_windows"),
        (["calling_profile=custom", "calling_windows=mon-fri 21:00-09:00"], "ends before it starts"),
        (["status=field", "colour=blue"], "colour: unknown setting"),
        (["aapor_e=0.6"], "aapor_e_basis: a supervisor's e needs its stated basis"),
        (["backcheck_share=150%"], "backcheck_share: must lie between 0 and 1"),
    ],
)
def test_study_set_is_all_or_nothing(ini, engine, ebike, capsys, pairs, message):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    assert main(["study", "set", "ebike_abo_konzept", *pairs, "-c", ini]) == 1
    assert message in capsys.readouterr().err
    [study] = _rows(engine, Study)
    assert (study.status, study.settings) == ("draft", {})


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["status=field", "max_attempts=8", "status=paused"],
         "cati: status: given twice (status=field and status=paused)"),
        (["status"], "cati: 'status': write KEY=VALUE"),
        (["=field"], "cati: '=field': write KEY=VALUE"),
    ],
)
def test_study_set_bad_pairs_are_wrong_usage(ini, engine, ebike, capsys, pairs, message):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    assert main(["study", "set", "ebike_abo_konzept", *pairs, "-c", ini]) == 2
    assert capsys.readouterr().err == message + "\n"
    [study] = _rows(engine, Study)
    assert (study.status, study.settings) == ("draft", {})


def test_study_create_with_bad_questionnaire_names_the_place(ini, engine, tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("format: cati/1\nid: x\n")
    assert main(["study", "create", "--questionnaire", str(bad), "-c", ini]) == 1
    err = capsys.readouterr().err
    assert f"{bad}:" in err
    assert _rows(engine, Study) == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"max_attempts: 5\nmax_attempts: 6\n",
         "settings.yaml:2:1: duplicate key 'max_attempts' (first given at line 1)"),
        (b"status: [\n", "settings.yaml:2:1: YAML syntax:"),
        (b"- max_attempts\n", "settings.yaml:1:1: expected a mapping of names to values, found a list"),
        (b"status: running\n", "settings.yaml: status: must be one of draft, field, paused, closed"),
        (b"legal_basis: n\xf6ne\n", "settings.yaml:1:15: not UTF-8 text (byte 0xf6)"),
    ],
)
def test_study_create_names_the_settings_file(ini, engine, ebike, tmp_path, capsys, content, message):
    settings = tmp_path / "settings.yaml"
    settings.write_bytes(content)
    argv = ["study", "create", "--questionnaire", str(ebike), "--settings", str(settings), "-c", ini]
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith(f"cati: {tmp_path}/{message}")
    assert _rows(engine, Study) == []


def test_study_create_settings_file_words_as_written(ini, engine, ebike, tmp_path, capsys):
    settings = tmp_path / "settings.yaml"
    settings.write_text("allow_sunday_holiday: no\nbackcheck_share: 0.2\nquota.alter_geschlecht.m_18_44: null\n")
    assert main(["study", "create", "--questionnaire", str(ebike), "--settings", str(settings), "-c", ini]) == 0
    [study] = _rows(engine, Study)
    assert study.settings["backcheck_share"] == 0.2
    assert study.settings["quota_targets"] == {"alter_geschlecht": {"m_18_44": None}}


def test_study_create_names_the_line_of_a_questionnaire_that_is_not_utf8(ini, engine, tmp_path, capsys):
    bad = tmp_path / "q.yaml"
    bad.write_bytes(b"format: cati/1\ntitle: M\xfcnchen\n")
    assert main(["study", "create", "--questionnaire", str(bad), "-c", ini]) == 1
    assert capsys.readouterr().err == f"cati: {bad}:2:9: not UTF-8 text (byte 0xfc); save the file as UTF-8\n"
    assert _rows(engine, Study) == []


def test_initdb_demo_is_repeatable(ini, engine, capsys):
    assert main(["initdb", "--demo", "-c", ini]) == 0
    out = capsys.readouterr().out
    for role in ("admin", "researcher", "supervisor", "interviewer", "client"):
        assert role in out
    users_before = len(_rows(engine, User))
    assert main(["initdb", "--demo", "-c", ini]) == 0
    assert len(_rows(engine, User)) == users_before == 6


def test_command_choices_match_the_models():
    from cati.cli import study, user
    from cati.models import Purpose, Role

    assert set(user.ROLES) == {r.value for r in Role}
    assert set(study.PURPOSES) == {p.value for p in Purpose}


def test_check_starts_without_web_framework_or_database():
    import subprocess
    import sys

    code = (
        "import sys, cati.cli; cati.cli.build_parser(); "
        "print(sorted(m for m in ('pyramid', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
