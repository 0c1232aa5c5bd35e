"""Redirect targets, principals, the per-study ACL, and that every view names its permission."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.interfaces import IExceptionResponse
from pyramid.security import NO_PERMISSION_REQUIRED

from cati.web.resources import RootFactory, StudyContext
from cati.web.security import (
    SECURITY_HEADERS,
    SESSION_VERSION_KEY,
    UNDECLARED,
    CatiSecurityPolicy,
    Permission,
    add_security_headers,
    principals_for,
    safe_next,
)

P = Permission
PUBLIC_ROUTES = {"__static/", "auth.login", "locale.set"}


def user(id, role, client_id=None):
    return SimpleNamespace(id=id, role=role, client_id=client_id)


class TestSafeNext:
    @pytest.mark.parametrize("value", ["/", "/studies/acme", "/login?next=%2F", "/a/b#frag"])
    def test_local_paths_pass(self, value):
        assert safe_next(value) == value

    @pytest.mark.parametrize("value", [
        None, "", "studies", "//evil.example", "///evil.example", "/\\evil.example", "\\\\evil.example",
        "https://evil.example", "http:/evil.example", "javascript:alert(1)", "/\x00x", "/a\nLocation: x",
    ])
    def test_everything_else_goes_home(self, value):
        assert safe_next(value) == "/"


class TestPermissions:
    def test_values_are_resource_action_and_sorted(self):
        values = [p.value for p in Permission]
        assert all(re.fullmatch(r"[a-z]+:[a-z]+", v) for v in values)
        assert [p.name for p in Permission] == sorted(p.name for p in Permission)

    @pytest.mark.parametrize(("role", "client_id", "expected"), [
        ("admin", None, ["user:1", "role:admin"]),
        ("client", 7, ["user:1", "role:client", "client:7"]),
        ("interviewer", 7, ["user:1", "role:interviewer"]),  # a stray client_id grants nothing
    ])
    def test_principals(self, role, client_id, expected):
        assert principals_for(user(1, role, client_id)) == [Everyone, Authenticated, *expected]

    def test_anonymous_principals(self):
        assert principals_for(None) == [Everyone]


def study_context(members=(), client_id=None):
    context = object.__new__(StudyContext)
    context.study = SimpleNamespace(
        client_id=client_id,
        members=[SimpleNamespace(user_id=u.id, user=u) for u in members],
    )
    return context


def allowed(context, someone):
    acl = ACLHelper()
    return {p for p in Permission if acl.permits(context, principals_for(someone), p)}


class TestACLs:
    admin, researcher = user(1, "admin"), user(2, "researcher")
    supervisor, interviewer = user(3, "supervisor"), user(4, "interviewer")
    client, other_client = user(5, "client", 10), user(6, "client", 11)

    def test_root(self):
        root = RootFactory(None)
        assert allowed(root, self.admin) == {P.APP_USE, P.PORTAL_USE, P.STUDY_CREATE, P.STUDY_LIST, P.USER_CREATE,
                                             P.USER_LIST, P.USER_MANAGE}
        assert allowed(root, self.researcher) == {P.APP_USE, P.PORTAL_USE, P.STUDY_CREATE, P.STUDY_LIST, P.USER_LIST}
        for someone in (self.supervisor, self.client):
            assert allowed(root, someone) == {P.APP_USE, P.PORTAL_USE}
        assert allowed(root, self.interviewer) == {P.APP_USE}
        assert allowed(root, None) == set()

    def test_study_members_and_client(self):
        context = study_context([self.supervisor, self.interviewer], client_id=10)
        staff = {P.STUDY_VIEW, P.STUDY_MANAGE, P.STUDY_SUPERVISE, P.STUDY_EXPORT, P.CONTACTS_EXPORT}
        assert allowed(context, self.admin) == staff
        assert allowed(context, self.researcher) == staff
        assert allowed(context, self.supervisor) == {P.STUDY_VIEW, P.STUDY_SUPERVISE, P.STUDY_EXPORT}
        assert allowed(context, self.interviewer) == {P.STUDY_INTERVIEW}  # no export
        assert allowed(context, self.client) == {P.STUDY_VIEW, P.STUDY_EXPORT}  # no contact export
        assert allowed(context, self.other_client) == set()
        assert allowed(context, None) == set()

    def test_study_without_members(self):
        context = study_context([], client_id=None)
        for someone in (self.supervisor, self.interviewer, self.client):
            assert allowed(context, someone) == set()

    def test_anonymous_context_for_unknown_study_denies_all(self):
        context = object.__new__(StudyContext)
        context.study = None
        assert allowed(context, self.admin) == set()


def test_every_view_declares_its_permission(app):
    introspector = app.registry.introspector
    problems = []
    for view in introspector.get_category("views"):
        intr = view["introspectable"]
        permissions = [r["value"] for r in view["related"] if r.category_name == "permissions"]
        route = intr["route_name"]
        context = intr["context"]
        if intr["exception_only"] or context is IExceptionResponse or (
            isinstance(context, type) and issubclass(context, BaseException)
        ):
            continue  # error pages (404, 403, CSRF, Pyramid's default) may not carry a permission
        if not permissions or permissions == [UNDECLARED]:
            problems.append(f"view {intr['callable']} (route {route}) declares no permission")
        elif NO_PERMISSION_REQUIRED in permissions and route not in PUBLIC_ROUTES:
            problems.append(f"view {intr['callable']} (route {route}) is public but not in PUBLIC_ROUTES")
    assert not problems, "\n".join(problems)


def test_security_headers_are_added_without_overriding():
    response = SimpleNamespace(headers={"X-Frame-Options": "SAMEORIGIN"})
    request = SimpleNamespace(path="/", registry=SimpleNamespace(settings={}))
    add_security_headers(SimpleNamespace(response=response, request=request))
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    assert "Strict-Transport-Security" not in response.headers  # only with cati.secure_cookies
    for name in set(SECURITY_HEADERS) - {"X-Frame-Options"}:
        assert response.headers[name] == SECURITY_HEADERS[name]
    assert response.headers["Cache-Control"] == "no-store"


class TestSessionVersion:
    """A session is the user's only while it carries their current ``session_version``."""

    def identity(self, session, *, version=0, active=True):
        person = SimpleNamespace(id=7, active=active, session_version=version)
        request = SimpleNamespace(session=session, dbsession=SimpleNamespace(get=lambda model, id: person))
        policy = CatiSecurityPolicy()
        policy._session.authenticated_userid = lambda request: request.session.get("userid")
        return policy._load_identity(request)

    def test_matching_version_is_logged_in(self):
        assert self.identity({"userid": 7, SESSION_VERSION_KEY: 3}, version=3).id == 7

    def test_other_version_is_logged_out(self):
        assert self.identity({"userid": 7, SESSION_VERSION_KEY: 2}, version=3) is None

    def test_session_from_before_the_version_counts_as_0(self):
        assert self.identity({"userid": 7}, version=0).id == 7
        assert self.identity({"userid": 7}, version=1) is None

    def test_inactive_user_is_logged_out(self):
        assert self.identity({"userid": 7, SESSION_VERSION_KEY: 0}, active=False) is None
