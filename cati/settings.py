"""Typed, validated settings: a wrong setting stops start-up with a message naming it.

PasteDeploy hands us strings; colander turns them into typed values once, at start-up, so the
rest of the code never parses settings and never meets a typo at 3 a.m. during fieldwork.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from typing import Any

import colander
from pyramid.exceptions import ConfigurationError


class _Bool(colander.Boolean):
    def __init__(self) -> None:
        super().__init__(false_choices=("false", "0", "no", "off", ""), true_choices=("true", "1", "yes", "on"))


def _env_default(name: str) -> Any:
    return os.environ.get(name, colander.required)


class SettingsSchema(colander.MappingSchema):
    url = colander.SchemaNode(colander.String(), name="sqlalchemy.url")
    session_secret = colander.SchemaNode(
        colander.String(),
        name="cati.session_secret",
        validator=colander.Length(min=32, min_err="must be at least 32 characters long"),
    )
    secure_cookies = colander.SchemaNode(_Bool(), name="cati.secure_cookies", missing=False)
    session_timeout = colander.SchemaNode(
        colander.Int(), name="cati.session_timeout", missing=12 * 3600, validator=colander.Range(300, 7 * 86400)
    )
    default_locale = colander.SchemaNode(
        colander.String(), name="pyramid.default_locale_name", missing="de", validator=colander.OneOf(["de", "en"])
    )
    login_max_failures = colander.SchemaNode(
        colander.Int(), name="cati.login_max_failures", missing=5, validator=colander.Range(1, 100)
    )
    login_lockout = colander.SchemaNode(
        colander.Int(), name="cati.login_lockout_seconds", missing=300, validator=colander.Range(1, 86400)
    )
    sqlite_busy_timeout = colander.SchemaNode(
        colander.Int(), name="cati.sqlite_busy_timeout_ms", missing=15000, validator=colander.Range(0, 600000)
    )
    sqlite_synchronous = colander.SchemaNode(
        colander.String(), name="cati.sqlite_synchronous", missing="full", validator=colander.OneOf(["full", "normal"]),
        preparer=lambda value: value.strip().lower() if isinstance(value, str) else value,
    )
    dnc_salt = colander.SchemaNode(colander.String(), name="cati.dnc_salt", missing="cati-dnc")
    heartbeat_timeout = colander.SchemaNode(
        colander.Int(), name="cati.claim_timeout_seconds", missing=1800, validator=colander.Range(30, 86400)
    )
    # Move what the app holds after start-up out of the garbage collector's sight (gc.freeze): a
    # full collection of those ~200,000 objects took 120 ms, the interviewers' worst latencies.
    gc_freeze = colander.SchemaNode(_Bool(), name="cati.gc_freeze", missing=True)
    # Data exports (cati.services.export_jobs): where files are written ("" = ./var/exports), whether
    # this process runs a background worker thread, how long contact exports are kept, and up to how
    # many interviews a download is built right in the request instead of in the background.
    export_dir = colander.SchemaNode(colander.String(), name="cati.export_dir", missing="")
    export_worker = colander.SchemaNode(_Bool(), name="cati.export_worker", missing=False)
    contact_export_hours = colander.SchemaNode(
        colander.Int(), name="cati.contact_export_hours", missing=24, validator=colander.Range(1, 90 * 24)
    )
    export_inline_rows = colander.SchemaNode(
        colander.Int(), name="cati.export_inline_rows", missing=2000, validator=colander.Range(0, 10_000_000)
    )
    export_inline_cells = colander.SchemaNode(
        colander.Int(), name="cati.export_inline_cells", missing=50_000, validator=colander.Range(0, 1_000_000_000)
    )


def expand_env(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Replace ``${VAR}`` with environment values so production.ini keeps secrets out of the file."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, str) and "${" in value:
            value = os.path.expandvars(value)
            if "${" in value:
                raise ConfigurationError(f"setting {key}: environment variable in {value!r} is not set")
        out[key] = value
    return out


#: ``cati.*`` keys that are not settings a deployment writes: an engine handed in by the tests and
#: scripts that build the app around an existing connection pool.
INTERNAL_KEYS = frozenset({"cati.engine"})


def unknown_keys(raw: Mapping[str, Any]) -> list[str]:
    """Messages for ``cati.*`` keys we do not know: a misspelt ``cati.secure_cookie = true`` would
    otherwise leave cookies insecure without a word. Other prefixes (pyramid.*, sqlalchemy.*,
    retry.*, tm.*) belong to their libraries and pass."""
    known = {node.name for node in SettingsSchema().children} | INTERNAL_KEYS
    problems = []
    for key in sorted(k for k in raw if k.startswith("cati.") and k not in known):
        guess = difflib.get_close_matches(key, sorted(known - INTERNAL_KEYS), n=1)
        problems.append(f"{key}: unknown setting" + (f" (did you mean {guess[0]}?)" if guess else ""))
    return problems


def parse_settings(raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate and type the settings; unknown ``cati.*`` keys are refused, those of the libraries
    (pyramid.*, sqlalchemy.*, retry.*, ...) pass untouched."""
    expanded = expand_env(raw)
    unknown = unknown_keys(expanded)
    if unknown:
        raise ConfigurationError(f"invalid settings: {'; '.join(unknown)}")
    try:
        typed = SettingsSchema().deserialize(expanded)
    except colander.Invalid as exc:
        problems = "; ".join(f"{name}: {msg}" for name, msg in sorted(exc.asdict().items()))
        raise ConfigurationError(f"invalid settings: {problems}") from exc
    return {**expanded, **typed}
