"""Logging in and out, and the language switch."""

from __future__ import annotations

import math
from typing import Any

from pyramid.httpexceptions import HTTPBadRequest, HTTPSeeOther
from pyramid.security import NO_PERMISSION_REQUIRED, forget, remember
from pyramid.view import view_config, view_defaults

from cati.db import read_only_session
from cati.services.users import LoginResult, check_login, finish_login

from .. import work
from ..i18n import LOCALE_COOKIE, LOCALES, _, pluralize
from ..schemas import LoginSchema, validate
from ..security import Permission, safe_next


@view_defaults(route_name="auth.login", renderer="auth/login.jinja2", permission=NO_PERMISSION_REQUIRED)
class LoginViews:
    """Public: the login form is how anonymous visitors get in. CSRF-protected like every POST."""

    def __init__(self, context: Any, request: Any) -> None:
        self.request = request
        self.next = safe_next(request.params.get("next"))

    def _form(self, status: int = 200, **values: Any) -> dict[str, Any]:
        self.request.response.status_int = status
        return {"next": self.next, "username": "", "errors": {}, "message": None, **values}

    @view_config(request_method="GET")
    def show(self) -> Any:
        if self.request.identity is not None:
            return HTTPSeeOther(self.next)
        return self._form()

    @view_config(request_method="POST")
    def submit(self) -> Any:
        request = self.request
        translate = request.localizer.translate
        values, errors = validate(LoginSchema(), request.POST, translate)
        if errors:
            return self._form(422, username=request.POST.get("username", ""), errors=errors)
        result = checked_login(request, values["username"], values["password"])
        if result.throttled:
            return self._form(429, username=values["username"], message=throttled_message(request, result))
        if result.user is None:
            # One message for unknown users, wrong passwords and deactivated accounts alike.
            message = translate(_("Username or password is incorrect."))
            return self._form(422, username=values["username"], message=message)
        headers = remember(request, result.user.id)
        work.begin(request, result.user)
        return HTTPSeeOther(self.next, headers=headers)


def checked_login(request: Any, username: str, password: str) -> LoginResult:
    """A password checked as a login is: throttled per user and address, failures recorded (with
    this request's transaction; pyramid_tm commits 4xx responses, and no commit veto may be
    configured, or the throttle would never see a failure)."""
    settings = request.registry.settings
    # Argon2 runs in a read-only transaction: on SQLite the request's transaction holds the write
    # lock, and every writer would wait out the hash. (It helps where request.dbsession has not begun
    # yet - a login; a logged-in user's own password change already holds it: rare enough.)
    with read_only_session(request) as reader:
        check = check_login(
            reader,
            username,
            password,
            # The connection's address, not WebOb's client_addr: that believes any client's
            # X-Forwarded-For, and a made-up address per attempt would dodge the throttle. Behind a
            # reverse proxy, the WSGI server's trusted-proxy setting puts the real one here.
            remote_addr=request.remote_addr or "",
            max_failures=int(settings.get("cati.login_max_failures", 5)),
            lockout_seconds=int(settings.get("cati.login_lockout_seconds", 300)),
        )
    return finish_login(request.dbsession, check, password)


def throttled_message(request: Any, result: LoginResult) -> str:
    """"Try again in N minutes", with the ``Retry-After`` header set on the response."""
    minutes = max(1, math.ceil(result.retry_after / 60))
    request.response.headers["Retry-After"] = str(result.retry_after)
    return pluralize(
        request,
        "Too many failed logins. Please try again in ${minutes} minute.",
        "Too many failed logins. Please try again in ${minutes} minutes.",
        minutes,
        {"minutes": minutes},
    )


@view_defaults(route_name="auth.logout", permission=Permission.APP_USE)
class LogoutViews:
    def __init__(self, context: Any, request: Any) -> None:
        self.request = request

    @view_config(request_method="GET", renderer="auth/logout.jinja2")
    def confirm(self) -> dict[str, Any]:
        # Logging out changes state, so it is a POST; a bookmarked /logout gets a button.
        return {}

    @view_config(request_method="POST")
    def logout(self) -> Any:
        request = self.request
        work.finish(request)
        headers = forget(request)
        request.session.flash(request.localizer.translate(_("You have been logged out.")), "success")
        return HTTPSeeOther(request.route_url("auth.login"), headers=headers)


@view_config(route_name="locale.set", request_method="POST", permission=NO_PERMISSION_REQUIRED)
def set_locale(request: Any) -> Any:
    """Public (the login page has the switch too); a POST with the CSRF token like every other."""
    locale = request.POST.get("locale", "")
    target = safe_next(request.POST.get("next"))
    if locale not in LOCALES:
        return HTTPBadRequest()
    response = HTTPSeeOther(target)
    response.set_cookie(
        LOCALE_COOKIE, locale, max_age=365 * 86400, path="/", httponly=True, samesite="Lax",
        secure=bool(request.registry.settings.get("cati.secure_cookies", False)),
    )
    user = request.identity
    if user is not None:
        # The saved locale comes first in negotiation, so the switch must update it too.
        user.locale = locale
    return response
