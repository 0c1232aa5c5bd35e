import pytest
from pyramid.exceptions import ConfigurationError

from cati.settings import parse_settings

BASE = {"sqlalchemy.url": "sqlite://", "cati.session_secret": "x" * 32}


def test_valid_settings_are_typed():
    settings = parse_settings({**BASE, "cati.login_max_failures": "7", "cati.secure_cookies": "true",
                               "cati.sqlite_synchronous": " FULL"})
    assert settings["cati.login_max_failures"] == 7
    assert settings["cati.secure_cookies"] is True
    assert settings["cati.sqlite_synchronous"] == "full"
    assert settings["pyramid.default_locale_name"] == "de"


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"cati.session_secret": "short"}, "cati.session_secret"),
        ({"cati.login_max_failures": "many"}, "cati.login_max_failures"),
        ({"cati.secure_cookies": "perhaps"}, "cati.secure_cookies"),
        ({"pyramid.default_locale_name": "fr"}, "pyramid.default_locale_name"),
        ({"cati.sqlite_synchronous": "off"}, "cati.sqlite_synchronous"),
        ({"cati.export_inline_cells": "-1"}, "cati.export_inline_cells"),
    ],
)
def test_wrong_setting_stops_start_up_naming_it(override, named):
    with pytest.raises(ConfigurationError, match=named.replace(".", r"\.")):
        parse_settings({**BASE, **override})


def test_missing_required_setting_is_named():
    with pytest.raises(ConfigurationError, match=r"sqlalchemy\.url"):
        parse_settings({"cati.session_secret": "x" * 32})


def test_environment_variables_are_expanded(monkeypatch):
    monkeypatch.setenv("CATI_TEST_SECRET", "s" * 40)
    settings = parse_settings({**BASE, "cati.session_secret": "${CATI_TEST_SECRET}"})
    assert settings["cati.session_secret"] == "s" * 40


def test_unset_environment_variable_is_named(monkeypatch):
    monkeypatch.delenv("CATI_NOT_SET", raising=False)
    with pytest.raises(ConfigurationError, match=r"cati\.session_secret"):
        parse_settings({**BASE, "cati.session_secret": "${CATI_NOT_SET}"})


@pytest.mark.parametrize(("key", "message"), [
    ("cati.secure_cookie", r"cati\.secure_cookie: unknown setting \(did you mean cati\.secure_cookies\?\)"),
    ("cati.login_lockout_second", r"did you mean cati\.login_lockout_seconds\?"),
    ("cati.nothing_like_it_at_all", r"cati\.nothing_like_it_at_all: unknown setting$"),
])
def test_a_misspelt_setting_stops_start_up(key, message):
    """A typo must not leave a default in place silently (insecure cookies, a short lockout)."""
    with pytest.raises(ConfigurationError, match=message):
        parse_settings({**BASE, key: "true"})


def test_library_settings_and_the_test_engine_pass():
    settings = parse_settings({**BASE, "retry.attempts": "3", "tm.annotate_user": "false", "cati.engine": object()})
    assert settings["retry.attempts"] == "3"


def test_the_production_example_is_valid_with_its_environment(monkeypatch, tmp_path):
    """production.ini.example (docs/deployment.md) starts with its three variables set, and names
    the one that is missing."""
    import shutil
    from pathlib import Path

    from pyramid.paster import get_appsettings

    example = tmp_path / "production.ini"
    shutil.copy(Path(__file__).resolve().parents[2] / "production.ini.example", example)
    monkeypatch.setenv("CATI_DATABASE_URL", "postgresql+psycopg://cati:pw@db.internal/cati")
    monkeypatch.setenv("CATI_SESSION_SECRET", "s" * 40)
    monkeypatch.setenv("CATI_DNC_SALT", "salz-der-sperrliste")
    settings = parse_settings(get_appsettings(str(example)))
    assert settings["cati.secure_cookies"] is True and settings["cati.dnc_salt"] == "salz-der-sperrliste"
    monkeypatch.delenv("CATI_DNC_SALT")
    with pytest.raises(ConfigurationError, match="CATI_DNC_SALT"):
        parse_settings(get_appsettings(str(example)))
