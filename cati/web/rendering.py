"""What every template gets besides ``request``: the user, permission checks, translated labels
and date formatting."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from pyramid.events import BeforeRender

from .i18n import LOCALES, label
from .resources import RootFactory
from .security import Permission

#: Times are stored in UTC and shown in the time zone of the call centre's users.
DISPLAY_TIMEZONE = ZoneInfo("Europe/Berlin")
LANGUAGE_NAMES = {"de": "Deutsch", "en": "English"}  # each in its own language, never translated


def add_renderer_globals(event: BeforeRender) -> None:
    request = event.get("request")
    if request is None:
        return
    root = RootFactory(request)

    def can(permission: str, context: Any = None) -> bool:
        # Navigation asks about application-wide permissions, whatever page (context) it is on.
        return bool(request.has_permission(permission, root if context is None else context))

    def fmt_dt(value: dt.datetime | None) -> str:
        if value is None:
            return "–"
        return format_datetime(value, "short", tzinfo=DISPLAY_TIMEZONE, locale=request.locale_name)

    # Where the language switch returns to: this page, or after a refused POST the page the form
    # was on (a POST-only URL cannot be fetched again with GET).
    here = request.path_qs if request.method in ("GET", "HEAD") else urlsplit(request.referer or "").path or "/"

    event.update({
        "user": request.identity,
        "here": here,
        "can": can,
        "P": Permission,
        "label": lambda kind, value: request.localizer.translate(label(kind, value)),
        "fmt_dt": fmt_dt,
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LOCALES],
    })
