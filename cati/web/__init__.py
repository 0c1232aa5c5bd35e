"""The web layer: the only Pyramid-aware package besides ``cati.db``.

``includeme`` wires sessions, security, i18n, templates, routes and views, in that order: the
security policy and CSRF options must be in place before views are registered, and the Jinja2
settings before pyramid_jinja2 builds its environment when the configuration is committed.

This module imports nothing of the app at import time (dotted names below), so that
``python -m cati.web.i18n`` (``make catalogs``) runs without the database and service layers.
"""

from __future__ import annotations

from typing import Any

from pyramid.events import BeforeRender
from pyramid.session import SignedCookieSessionFactory


def includeme(config: Any) -> None:
    settings = config.get_settings()
    config.set_session_factory(
        SignedCookieSessionFactory(
            settings["cati.session_secret"],
            cookie_name="cati_session",
            httponly=True,
            samesite="Lax",
            secure=bool(settings.get("cati.secure_cookies", False)),
            timeout=int(settings.get("cati.session_timeout", 12 * 3600)),
        )
    )
    config.set_root_factory(".resources.RootFactory")
    config.include(".security")
    config.include(".i18n")

    # Read by pyramid_jinja2 when the configuration is committed.
    settings.setdefault("jinja2.i18n.domain", "cati")
    settings.setdefault("jinja2.newstyle", "true")  # {{ _("Hello %(name)s", name=x) }}, values escaped
    settings.setdefault("jinja2.autoescape", "true")
    settings.setdefault("jinja2.undefined", "strict")  # a typo in a template fails loudly in tests
    settings.setdefault("jinja2.trim_blocks", "true")
    settings.setdefault("jinja2.lstrip_blocks", "true")
    config.add_jinja2_search_path("cati.web:templates", name=".jinja2")
    config.add_subscriber(".rendering.add_renderer_globals", BeforeRender)

    config.include(".routes")
    config.scan(".views")
