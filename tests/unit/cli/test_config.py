"""The settings file and the database it names: bad input exits 1 with one message, never a traceback."""

from __future__ import annotations

import builtins
import json
from pathlib import Path

import pytest

from cati.cli import main

SECRET = "0123456789abcdef" * 4


def _ini(tmp_path, url):
    path = tmp_path / "cati.ini"
    path.write_text(f"[app:main]\nuse = egg:cati\nsqlalchemy.url = {url}\ncati.session_secret = {SECRET}\n")
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "cati.ini: no [app:main] section"),
        (b"[logging]\nlevel = INFO\n", "cati.ini: no [app:main] section"),
        (b"garbage\n[app:main]\n", "cati.ini:1: a line before the first section header"),
        (b"[app:main]\nuse = egg:cati\nuse = egg:cati\n", "cati.ini:3: [app:main] use: given twice"),
        (b"[app:main]\nsqlalchemy.url = %(nope)s\n", "cati.ini: [app:main] sqlalchemy.url: bad %(...)s substitution"),
        (b"[app:main]\nuse = egg:cati\nname = J\xfcrgen\n", "cati.ini: not UTF-8 text (byte 0xFC)"),
        (f"[app:main]\nsqlalchemy.url = nosuchdb://x\ncati.session_secret = {SECRET}\n".encode(),
         "cati.ini: sqlalchemy.url: Can't load plugin: sqlalchemy.dialects:nosuchdb"),
    ],
)
def test_a_bad_settings_file_is_named(tmp_path, capsys, content, message):
    ini = tmp_path / "cati.ini"
    ini.write_bytes(content)
    assert main(["sample", "due", "s", "-c", str(ini)]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith(f"cati: {tmp_path}/{message}")
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_a_directory_or_an_unreadable_file_instead_of_the_settings(tmp_path, monkeypatch, capsys):
    assert main(["-c", str(tmp_path), "study", "set", "s", "status=field"]) == 1
    assert "is a directory" in capsys.readouterr().err
    ini = _ini(tmp_path, f"sqlite:///{tmp_path / 'x.sqlite'}")
    real_open = builtins.open

    def unreadable(file, *args, **kwargs):  # what a file without read permission does (tests may run as root)
        if str(file) == str(ini):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", unreadable)
    assert main(["-c", str(ini), "study", "set", "s", "status=field"]) == 1
    assert capsys.readouterr().err == f"cati: {ini}: cannot read: Permission denied\n"


def test_a_missing_sqlite_database_is_named_and_not_created(tmp_path, capsys):
    database = tmp_path / "missing.sqlite"
    ini = _ini(tmp_path, f"sqlite:///{database}")
    assert main(["sample", "explain", "s", "A1", "-c", str(ini)]) == 1
    assert f"database file {database} not found (create it with `cati -c {ini} initdb`)" in capsys.readouterr().err
    assert not database.exists()


def test_a_database_without_schema_asks_for_initdb(tmp_path, capsys):
    database = tmp_path / "empty.sqlite"
    database.touch()
    ini = _ini(tmp_path, f"sqlite:///{database}")
    assert main(["study", "set", "s", "status=field", "-c", str(ini)]) == 1
    expected = f"cati: {ini}: the database has no schema (create it with `cati -c {ini} initdb`)\n"
    assert capsys.readouterr().err == expected


def test_a_database_that_cannot_be_reached(tmp_path, capsys):
    ini = _ini(tmp_path, "postgresql+psycopg://nobody@127.0.0.1:1/cati")
    assert main(["initdb", "-c", str(ini)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"cati: {ini}: sqlalchemy.url: cannot connect to the database: ")
    assert err.count("\n") == 1


LOGGING = """
[loggers]
keys = root, sqlalchemy

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARN
handlers = console

[logger_sqlalchemy]
level = INFO
handlers =
qualname = sqlalchemy.engine

[handler_console]
class = StreamHandler
args = (sys.stdout,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)s %(message)s
"""


@pytest.fixture
def restore_logging():
    import logging

    root, engine_logger = logging.getLogger(), logging.getLogger("sqlalchemy.engine")
    saved = (list(root.handlers), root.level, engine_logger.level)
    yield
    for handler in root.handlers:
        if handler not in saved[0]:
            handler.close()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    engine_logger.setLevel(saved[2])


def test_json_stays_alone_on_stdout_when_the_ini_logs_to_stdout(ini, ebike, tmp_path, capsys, restore_logging):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    logging_ini = tmp_path / "logging.ini"
    logging_ini.write_text(Path(ini).read_text() + LOGGING)
    capsys.readouterr()
    assert main(["sample", "due", "ebike_abo_konzept", "--format", "json", "-c", str(logging_ini)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == []
    assert "INFO SELECT" in captured.err  # the SQL log went to standard error


@pytest.mark.parametrize(
    ("env", "argv"),
    [
        (None, ["sample", "due", "S"]),  # development.ini in the working directory
        ("", ["sample", "due", "S"]),  # CATI_CONFIG set but empty: the default as well
        ("cati.ini", ["sample", "due", "S"]),
        ("nope.ini", ["-c", "cati.ini", "sample", "due", "S"]),
        ("nope.ini", ["sample", "-c", "cati.ini", "due", "S"]),
        ("nope.ini", ["sample", "due", "S", "-c", "cati.ini"]),
        ("nope.ini", ["-c", "nope.ini", "sample", "due", "S", "--config", "cati.ini"]),
    ],
)
def test_which_settings_file(ini, tmp_path, monkeypatch, capsys, env, argv):
    work = tmp_path / "work"
    work.mkdir()
    text = Path(ini).read_text()
    (work / "cati.ini" if env or "-c" in argv else work / "development.ini").write_text(text)
    monkeypatch.chdir(work)
    if env is None:
        monkeypatch.delenv("CATI_CONFIG", raising=False)
    else:
        monkeypatch.setenv("CATI_CONFIG", env)
    assert main(argv) == 1
    assert capsys.readouterr().err == "cati: study 'S' not found\n"  # the database was reached
