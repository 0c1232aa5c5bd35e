"""Who is logged in, what they may do, and the protections every response carries.

* Identity: the user id lives in the signed session cookie; :class:`CatiSecurityPolicy` loads the
  user once per request and only while the account is active, so deactivating a user locks them
  out at their next click. The session also holds the user's ``session_version`` from login;
  deactivation, password changes and logging out bump it, so a session issued before is logged out
  (sessions from before the column existed carry no version and count as version 0).
* Authorization: ACLs. Principals are ``user:<id>``, ``role:<role>`` and, for client users,
  ``client:<client_id>``; the root ACL (:mod:`cati.web.resources`) grants application-wide
  permissions by role, each :class:`~cati.web.resources.StudyContext` grants per-study ones.
* CSRF: the token is kept in the session and checked on every POST (login included, so nobody
  can log a victim into an attacker's account); it is replaced at login.
* Every view names its permission. The default permission is one nobody holds, so a view that
  forgets to declare one is closed, not open; public views say ``NO_PERMISSION_REQUIRED``.
"""

from __future__ import annotations

import enum
from typing import Any
from urllib.parse import urlsplit

from pyramid.authentication import SessionAuthenticationHelper
from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.csrf import SessionCSRFStoragePolicy, new_csrf_token
from pyramid.events import NewResponse
from pyramid.request import RequestLocalCache

from cati.models import Role, User


class Permission(enum.StrEnum):
    """``resource:action``, alphabetised; grep for the value to find every use."""

    APP_USE = "app:use"  # any logged-in user: start page, logout
    CASE_INTERVIEW = "case:interview"  # interviewer members of the case's study: the console
    CONSOLE_USE = "console:use"  # interviewers: next case, inbound look-up
    CONTACTS_EXPORT = "contacts:export"  # a study's contact export (personal data): admins, researchers
    PORTAL_USE = "portal:use"  # the client portal's list of studies: everybody but interviewers
    STUDY_CREATE = "study:create"
    STUDY_EXPORT = "study:export"  # data downloads: the study's client, its supervisors, admins, researchers
    STUDY_INTERVIEW = "study:interview"
    STUDY_LIST = "study:list"
    STUDY_MANAGE = "study:manage"
    STUDY_SUPERVISE = "study:supervise"
    STUDY_VIEW = "study:view"
    USER_CREATE = "user:create"
    USER_LIST = "user:list"
    USER_MANAGE = "user:manage"  # deactivate, reactivate, set passwords: admins


#: The session key holding the ``User.session_version`` the session was issued for.
SESSION_VERSION_KEY = "cati.session_version"

#: Granted to nobody: the default permission of views that forget to declare their own.
UNDECLARED = "view:undeclared"


def principals_for(user: User | None) -> list[str]:
    if user is None:
        return [Everyone]
    principals = [Everyone, Authenticated, f"user:{user.id}", f"role:{user.role}"]
    if user.role == Role.CLIENT and user.client_id is not None:
        principals.append(f"client:{user.client_id}")
    return principals


class CatiSecurityPolicy:
    def __init__(self) -> None:
        self._session = SessionAuthenticationHelper()
        self._acl = ACLHelper()
        self._identity = RequestLocalCache(self._load_identity)

    def _load_identity(self, request: Any) -> User | None:
        user_id = self._session.authenticated_userid(request)
        if not isinstance(user_id, int):
            return None
        user = request.dbsession.get(User, user_id)
        if user is None or not user.active:
            return None
        if request.session.get(SESSION_VERSION_KEY, 0) != user.session_version:
            return None
        return user

    def identity(self, request: Any) -> User | None:
        return self._identity.get_or_create(request)

    def authenticated_userid(self, request: Any) -> int | None:
        user = self.identity(request)
        return None if user is None else user.id

    def permits(self, request: Any, context: Any, permission: str) -> Any:
        return self._acl.permits(context, principals_for(self.identity(request)), permission)

    def remember(self, request: Any, userid: int, **kw: Any) -> list[tuple[str, str]]:
        # A fresh session (no fixation of a pre-login session) and a fresh CSRF token.
        request.session.invalidate()
        headers = self._session.remember(request, userid, **kw)
        user = request.dbsession.get(User, userid)
        request.session[SESSION_VERSION_KEY] = 0 if user is None else user.session_version
        new_csrf_token(request)
        self._identity.clear(request)
        return headers

    def forget(self, request: Any, **kw: Any) -> list[tuple[str, str]]:
        # The session lives in a signed cookie, so clearing it in this browser does not revoke a
        # copy of it (left in a shared workstation's profile, a proxy log, a stolen cookie): such a
        # copy stays valid until it times out. Bumping the version ends it. The price: logging out
        # ends the user's sessions in other browsers too ("log out everywhere").
        user = self.identity(request)
        if user is not None:
            user.session_version += 1
        self._identity.clear(request)
        headers = self._session.forget(request, **kw)
        request.session.invalidate()
        return headers


def safe_next(value: str | None, default: str = "/") -> str:
    """``value`` if it is a path on this site, else ``default``: no open redirects through
    ``?next=https://evil.example`` or the scheme-relative ``//evil.example``."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    return value


#: Only our own origin, no inline script or style, no framing, no plugins.
CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "img-src 'self' data:",
    "style-src 'self'",
    "script-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "object-src 'none'",
])

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=(), payment=()",
}


#: Sent when ``cati.secure_cookies`` is on: one year, this host only (subdomains may be others').
HSTS = "max-age=31536000"


def add_security_headers(event: NewResponse) -> None:
    response, request = event.response, event.request
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.registry.settings.get("cati.secure_cookies"):
        # Served over HTTPS (else the Secure session cookie would never come back): browsers are
        # to use nothing else, so a mistyped http:// address cannot carry a password in clear text.
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    # Interviewers share workstations: pages with respondent or study data must not be kept in
    # the browser cache (the back button after logout). Static files keep their caching.
    if not request.path.startswith("/static/") and "Cache-Control" not in response.headers:
        response.headers["Cache-Control"] = "no-store"


def includeme(config: Any) -> None:
    config.set_security_policy(CatiSecurityPolicy())
    config.set_csrf_storage_policy(SessionCSRFStoragePolicy())
    config.set_default_csrf_options(require_csrf=True)
    config.set_default_permission(UNDECLARED)
    config.add_subscriber(add_security_headers, NewResponse)
