"""Form schemas and the settings text parser."""

from __future__ import annotations

from typing import ClassVar

import colander
import pytest

from cati.web.schemas import LoginSchema, UserCreateSchema, parse_settings_text, validate


def identity(message):
    return message.interpolate() if hasattr(message, "interpolate") else str(message)


class TestSettingsText:
    def test_lines_comments_and_blanks(self):
        text = "max_attempts = 8\n\n# comment\nretry.busy=20\ncalling_windows=mon-fri 09:00-20:00; sat 10:00-16:00\n"
        assert parse_settings_text(text) == {
            "max_attempts": "8", "retry.busy": "20", "calling_windows": "mon-fri 09:00-20:00; sat 10:00-16:00",
        }

    @pytest.mark.parametrize(("text", "line"), [("max_attempts 8", 1), ("a=1\n=2", 2)])
    def test_line_without_equals_is_named(self, text, line):
        with pytest.raises(colander.Invalid) as info:
            parse_settings_text(text)
        assert info.value.msg.mapping == {"line": line}

    def test_empty_text(self):
        with pytest.raises(colander.Invalid):
            parse_settings_text("  \n# only a comment\n")


class TestUserCreate:
    base: ClassVar[dict[str, str]] = {
        "username": " Nora ", "role": "interviewer", "password": "long enough", "password_confirm": "long enough",
    }

    def test_valid(self):
        values, errors = validate(UserCreateSchema(), self.base, identity)
        assert errors == {}
        assert values["username"] == "nora"
        assert values["client"] == ""

    @pytest.mark.parametrize(("changes", "field"), [
        ({"role": "client"}, "client"),
        ({"client": "Acme"}, "client"),
        ({"password_confirm": "different"}, "password_confirm"),
        ({"password": "short", "password_confirm": "short"}, "password"),
        ({"role": "root"}, "role"),
        ({"username": "a b"}, "username"),
        ({"locale": "fr"}, "locale"),
    ])
    def test_refusals_name_the_field(self, changes, field):
        _values, errors = validate(UserCreateSchema(), {**self.base, **changes}, identity)
        assert field in errors


def test_login_requires_both_fields():
    _values, errors = validate(LoginSchema(), {"username": "  "}, identity)
    assert set(errors) == {"username", "password"}
