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



def search_path_templates(info: Any) -> Any:
    """The ``.jinja2`` renderer factory: templates named by their path in the search path
    (``cati.web:templates``), looked up there and nowhere else.

    pyramid_jinja2's own factory first tries each name as an asset spec relative to the view's
    package (``cati.web.views:console/case.jinja2``). That look-up always fails for us, and Jinja2
    caches only templates it found, so every page paid for a failed file look-up before the real
    one: 2 % of an answer submission's server time. Asset specs (``package:path``) still work.
    """
    from pyramid_jinja2 import IJinja2Environment, Jinja2TemplateRenderer

    name, registry = info.name, info.registry

    def template() -> Any:
        return registry.getUtility(IJinja2Environment, name=".jinja2").get_template(name)

    return Jinja2TemplateRenderer(template)
