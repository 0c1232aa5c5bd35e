"""Form validation at the edge: colander schemas with translated messages.

The services validate again (they are the rules); these schemas catch the everyday mistakes early
and say what is wrong in the user's language, next to the field. Whatever a service still refuses
arrives as its own message and is shown above the form.
"""

from __future__ import annotations

from typing import Any

import colander

from cati.models import Purpose, Role, StudyStatus
from cati.services.users import MIN_PASSWORD_LENGTH, USERNAME_RE

from .i18n import LOCALES, _

SLUG_PATTERN = r"^[a-z][a-z0-9_-]{1,63}$"


class StrippedString(colander.String):
    """Text with surrounding blanks removed before the "missing" check, so "   " is missing."""

    def deserialize(self, node: colander.SchemaNode, cstruct: Any) -> Any:
        return super().deserialize(node, cstruct.strip() if isinstance(cstruct, str) else cstruct)


def _text(
    name: str, *, required: bool = True, missing_msg: Any = None, preparer: Any = None, **kw: Any
) -> colander.SchemaNode:
    return colander.SchemaNode(
        StrippedString(),
        name=name,
        preparer=preparer,
        missing=colander.required if required else "",
        missing_msg=missing_msg or _("Please fill in this field."),
        **kw,
    )


def _one_of(choices: list[str]) -> colander.OneOf:
    return colander.OneOf(choices, msg_err=_("Please choose one of the offered values."))


class LoginSchema(colander.MappingSchema):
    username = _text("username", missing_msg=_("Please enter your username."),
                     validator=colander.Length(max=64))
    password = colander.SchemaNode(colander.String(), name="password", missing_msg=_("Please enter your password."),
                                   validator=colander.Length(max=1024))


def _client_for_client_role(node: colander.SchemaNode, value: dict[str, Any]) -> None:
    if value["role"] == Role.CLIENT and not value["client"]:
        exc = colander.Invalid(node)
        exc["client"] = _("Client users need the client organisation they belong to.")
        raise exc
    if value["role"] != Role.CLIENT and value["client"]:
        exc = colander.Invalid(node)
        exc["client"] = _("Only users with the role client belong to a client organisation.")
        raise exc
    _passwords_match(node, value)


def _passwords_match(node: colander.SchemaNode, value: dict[str, Any]) -> None:
    if value["password"] != value["password_confirm"]:
        exc = colander.Invalid(node)
        exc["password_confirm"] = _("The two passwords differ.")
        raise exc


def _new_password(name: str) -> colander.SchemaNode:
    """A new password: the length rule of :mod:`cati.services.users`, which checks it again."""
    return colander.SchemaNode(
        colander.String(), name=name, missing_msg=_("Please fill in this field."),
        validator=colander.Length(
            min=MIN_PASSWORD_LENGTH, max=1024,
            min_err=_("At least ${min} characters, please.", mapping={"min": MIN_PASSWORD_LENGTH}),
        ),
    )


def _password_confirm() -> colander.SchemaNode:
    return colander.SchemaNode(colander.String(), name="password_confirm",
                               missing_msg=_("Please repeat the password."))


class UserCreateSchema(colander.MappingSchema):
    username = _text("username", validator=colander.Regex(
        USERNAME_RE.pattern,
        msg=_("Use 2 to 64 characters: lower-case letters, digits, dot, underscore or hyphen."),
    ), preparer=lambda v: v.lower() if isinstance(v, str) else v)
    display_name = _text("display_name", required=False, validator=colander.Length(max=200))
    first_name = _text("first_name", required=False, validator=colander.Length(max=100))
    role = _text("role", validator=_one_of([r.value for r in Role]))
    client = _text("client", required=False, validator=colander.Length(max=200))
    locale = _text("locale", required=False, validator=_one_of(["", *LOCALES]))
    password = _new_password("password")
    password_confirm = _password_confirm()

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, validator=_client_for_client_role, **kw)


class PasswordSchema(colander.MappingSchema):
    """An admin sets someone's password: the new one, twice."""

    password = _new_password("password")
    password_confirm = _password_confirm()

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, validator=_passwords_match, **kw)


class OwnPasswordSchema(PasswordSchema):
    """A user changes their own password: the current one, then the new one twice."""

    current_password = colander.SchemaNode(colander.String(), name="current_password",
                                           missing_msg=_("Please enter your current password."),
                                           validator=colander.Length(max=1024))


class ActiveSchema(colander.MappingSchema):
    active = _text("active", validator=_one_of(["0", "1"]))


class StudyCreateSchema(colander.MappingSchema):
    name = _text("name", required=False, validator=colander.Length(max=200))
    slug = _text("slug", required=False, validator=colander.Regex(
        SLUG_PATTERN, msg=_("Use 2 to 64 characters: lower-case letters, digits, underscore or hyphen; "
                            "a letter first."),
    ))
    purpose = _text("purpose", validator=_one_of([p.value for p in Purpose]))
    client = _text("client", required=False, validator=colander.Length(max=200))


class StatusSchema(colander.MappingSchema):
    status = _text("status", validator=_one_of([s.value for s in StudyStatus]))


class MemberSchema(colander.MappingSchema):
    user_id = colander.SchemaNode(colander.Int(), name="user_id", missing_msg=_("Please choose a person."))


def parse_settings_text(text: str) -> dict[str, str]:
    """``key=value`` lines (blank lines and ``#`` comments skipped) to a dict; raises
    ``colander.Invalid`` naming the first line that is not ``key=value``."""
    changes: dict[str, str] = {}
    node = colander.SchemaNode(colander.String(), name="changes")
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise colander.Invalid(node, _("Line ${line}: write key=value.", mapping={"line": number}))
        changes[key.strip()] = value.strip()
    if not changes:
        raise colander.Invalid(node, _("Please enter at least one key=value line."))
    return changes


def validate(schema: colander.SchemaNode, data: Any, translate: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """(values, errors): values are typed on success; errors map field names to translated text."""
    try:
        return schema.deserialize(data), {}
    except colander.Invalid as exc:
        return {}, {name.rpartition(".")[2]: msg for name, msg in exc.asdict(translate=translate).items()}
