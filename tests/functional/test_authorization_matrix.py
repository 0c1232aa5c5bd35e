"""Who may do what, for every route the application configures.

The routes come from Pyramid's introspector, not from a list kept by hand: a new route that is
missing from ``MATRIX`` fails ``test_every_route_is_in_the_matrix`` until its expected status per
role is written down here, and a route that accepts a method missing from its entry fails too.

POSTs carry a valid CSRF token and an empty (or harmless) form: the matrix is about authorization,
so an allowed role gets the form's own refusal (422) and a refused one 403, 404 or the redirect to
the login page (303). For study routes, ``own`` is a study the supervisor and interviewer are
members of and the client owns, ``other`` belongs to another client and has no members, and
``missing`` does not exist. Users who have nothing to do with a study get 404 rather than 403, so
that its existence is not confirmed.
"""

from __future__ import annotations

from typing import Any

import pytest
from pyramid.interfaces import IRoutesMapper

from .conftest import ROLES, csrf_token, login

ALL_ROLES = (*ROLES, "anonymous")
STAFF = ("admin", "researcher")


def expect(default: int, **overrides: int) -> dict[str, int]:
    """Expected status per role: ``default`` for every role not named."""
    unknown = set(overrides) - set(ALL_ROLES)
    assert not unknown, f"unknown roles {unknown}"
    return {role: overrides.get(role, default) for role in ALL_ROLES}


def staff_only(ok: int, *, others: int = 403) -> dict[str, int]:
    return expect(others, admin=ok, researcher=ok, anonymous=303)


def study_manage(ok: int) -> dict[str, dict[str, int]]:
    """A POST on a study that only admins and researchers may make."""
    return {
        "own": expect(403, admin=ok, researcher=ok, anonymous=303),
        "other": expect(404, admin=ok, researcher=ok, anonymous=303),
        "missing": expect(404, anonymous=303),
    }


def study_view(ok: int) -> dict[str, dict[str, int]]:
    """A page or POST on a study for everybody who sees it except its interviewers: its client,
    its supervisors, admins and researchers."""
    return {
        "own": expect(ok, interviewer=403, anonymous=303),
        "other": expect(404, admin=ok, researcher=ok, anonymous=303),
        "missing": expect(404, anonymous=303),
    }


def study_supervise(ok: int) -> dict[str, dict[str, int]]:
    """A page or POST on a study for its supervisors, admins and researchers."""
    return {
        "own": expect(403, admin=ok, researcher=ok, supervisor=ok, anonymous=303),
        "other": expect(404, admin=ok, researcher=ok, anonymous=303),
        "missing": expect(404, anonymous=303),
    }


def console_case(interviewer: int) -> dict[str, dict[str, int]]:
    """A case screen or POST of the interviewer console. ``own`` is a closed case of the study our
    interviewer is assigned to (nobody's to work on: the console refuses it with its own status),
    ``other`` a case of the study without members, ``missing`` an unknown case id."""
    return {
        "own": expect(403, interviewer=interviewer, anonymous=303),
        "other": expect(404, admin=403, researcher=403, anonymous=303),
        "missing": expect(404, anonymous=303),
    }


#: route name -> method -> expected status per role; study routes are keyed by target first:
#: route name -> method -> {"own" | "other" | "missing": {role: status}}
MATRIX: dict[str, dict[str, Any]] = {
    "__static/": {"GET": expect(200), "POST": expect(404)},
    "home": {"GET": expect(200, anonymous=303)},
    "auth.login": {"GET": expect(303, anonymous=200), "POST": expect(422)},
    "auth.logout": {"GET": expect(200, anonymous=303), "POST": expect(303)},
    "locale.set": {"POST": expect(303)},
    "admin.users": {"GET": staff_only(200)},
    "admin.audit": {"GET": expect(403, admin=200, anonymous=303)},  # the trail of no study: admins
    "admin.user_new": {
        "GET": expect(403, admin=200, anonymous=303),
        "POST": expect(403, admin=422, anonymous=303),
    },
    # Deactivating users and setting their passwords: admins only; user 0 does not exist (404).
    "admin.user_active": {"POST": expect(403, admin=404, anonymous=303)},
    "admin.user_password": {
        "GET": expect(403, admin=404, anonymous=303),
        "POST": expect(403, admin=404, anonymous=303),
    },
    # Every logged-in user changes their own password; an empty form is refused.
    "account.password": {"GET": expect(200, anonymous=303), "POST": expect(422, anonymous=303)},
    "study.list": {"GET": staff_only(200)},
    "study.new": {"GET": staff_only(200), "POST": staff_only(422)},
    "study.detail": {
        "GET": {
            "own": expect(200, interviewer=403, anonymous=303),
            "other": expect(404, admin=200, researcher=200, anonymous=303),
            "missing": expect(404, anonymous=303),
        },
    },
    "study.version_new": {"POST": study_manage(422)},
    "study.status": {"POST": study_manage(422)},
    "study.settings": {"POST": study_manage(422)},
    "study.member_add": {"POST": study_manage(422)},
    "study.member_remove": {"POST": study_manage(422)},
    "study.sample": {"GET": study_manage(200), "POST": study_manage(422)},
    "study.quotas": {"GET": study_supervise(200)},
    "study.quota_target": {"POST": study_supervise(422)},
    "study.quota_mode": {"POST": study_supervise(422)},
    # Supervision (issue 8); an unknown case or back-check is 404 for those who may supervise.
    "supervisor.dashboard": {"GET": study_supervise(200)},
    "supervisor.dashboard_json": {"GET": study_supervise(200)},
    "supervisor.dashboard_live": {"GET": study_supervise(200)},
    "supervisor.productivity": {"GET": study_supervise(200)},
    "supervisor.audit": {"GET": study_supervise(200)},
    "supervisor.report": {"GET": study_supervise(200)},
    "supervisor.control": {"GET": study_supervise(200)},
    "supervisor.status": {"POST": study_supervise(422)},
    "supervisor.settings": {"POST": study_supervise(422)},
    "supervisor.estimate": {"POST": study_supervise(422)},
    "supervisor.member_add": {"POST": study_supervise(422)},
    "supervisor.member_remove": {"POST": study_supervise(422)},
    "supervisor.skills": {"POST": study_supervise(422)},
    "supervisor.cases": {"GET": study_supervise(200)},
    "supervisor.due": {"GET": study_supervise(200)},
    "supervisor.case": {"GET": study_supervise(404)},
    "supervisor.case_contact": {"POST": study_supervise(404)},
    "supervisor.case_release": {"POST": study_supervise(404)},
    "supervisor.case_reassign": {"POST": study_supervise(404)},
    "supervisor.case_finalise": {"POST": study_supervise(404)},
    "supervisor.case_appointment": {"POST": study_supervise(404)},
    "supervisor.backchecks": {"GET": study_supervise(200)},
    "supervisor.backcheck_share": {"POST": study_supervise(422)},
    "supervisor.backcheck_draw": {"POST": study_supervise(422)},
    "supervisor.backcheck_result": {"POST": study_supervise(404)},
    # Client portal (issue 7): the client sees its own studies only; interviewers export nothing; the
    # contact export is for admins and researchers (clients and supervisors 403 on their study).
    "portal.index": {"GET": expect(200, interviewer=403, anonymous=303)},
    "portal.study": {"GET": study_view(200)},
    "portal.topline": {"GET": study_view(200)},
    "portal.downloads": {"GET": study_view(200), "POST": study_view(422)},
    "portal.download": {"GET": study_view(404)},  # job 0 does not exist
    "portal.contacts": {"POST": study_manage(422)},
    "console.next": {"POST": expect(403, interviewer=303, anonymous=303)},
    "console.lookup": {"GET": expect(403, interviewer=200, anonymous=303)},
    "console.case": {"GET": console_case(409)},
    "console.claim": {"POST": console_case(303)},  # refused (the case is closed): back to the look-up
    "console.start": {"POST": console_case(409)},
    "console.answer": {"POST": console_case(409)},
    "console.back": {"POST": console_case(409)},
    "console.language": {"POST": console_case(409)},
    "console.outcome": {"GET": console_case(409), "POST": console_case(409)},
    "console.contact": {"GET": console_case(409), "POST": console_case(409)},
    "console.heartbeat": {"POST": console_case(409)},
}

#: Form data beyond the CSRF token, where an empty form would not show the authorization.
POST_DATA = {"locale.set": {"locale": "de", "next": "/"}}
#: Path arguments for routes whose pattern has placeholders other than ``slug``.
PATH_ARGS = {"__static/": {"subpath": ("cati.css",)}, "supervisor.report": {"fmt": "csv"},
             "portal.download": {"job_id": "0"},
             "admin.user_active": {"user_id": "0"}, "admin.user_password": {"user_id": "0"},
             "supervisor.backcheck_result": {"check_id": "0"},
             **{f"supervisor.case{suffix}": {"case_id": "0"} for suffix in
                ("", "_contact", "_release", "_reassign", "_finalise", "_appointment")}}
#: Requests after which the session must be logged in again.
LOGS_OUT = {("auth.logout", "POST")}
#: Methods a route accepts although no view names them: GET routes also answer HEAD.
IMPLIED = {"HEAD"}


def configured_routes(app: Any) -> dict[str, set[str]]:
    """route name -> the request methods its views accept (``None`` = any method)."""
    routes: dict[str, set[str]] = {}
    for item in app.registry.introspector.get_category("routes"):
        name = item["introspectable"]["name"]
        methods: set[str] = set()
        for related in item["related"]:
            if related.category_name != "views":
                continue
            accepted = related["request_methods"]
            if accepted is None:
                methods |= {"GET", "POST"}
            else:
                methods |= {accepted} if isinstance(accepted, str) else set(accepted)
        routes[name] = methods - IMPLIED
    return routes


def test_every_route_is_in_the_matrix(app):
    routes = configured_routes(app)
    missing = sorted(set(routes) - set(MATRIX))
    assert not missing, (
        f"routes without an entry in MATRIX ({__file__}): {missing}. Add one per route with the expected "
        f"status for each role ({', '.join(ALL_ROLES)}) and each method the route accepts."
    )
    stale = sorted(set(MATRIX) - set(routes))
    assert not stale, f"MATRIX names routes that no longer exist: {stale}; remove them."
    for name, methods in routes.items():
        untested = methods - set(MATRIX[name])
        assert not untested, f"route {name!r} accepts {sorted(untested)}; add them to its MATRIX entry."


def _path(app: Any, name: str, slug: str | None, case_id: int | None = None) -> str:
    route = app.registry.getUtility(IRoutesMapper).get_route(name)
    args = dict(PATH_ARGS.get(name, {}))
    if "{slug}" in route.pattern:
        args["slug"] = slug
    if "{case_id" in route.pattern and "case_id" not in args:  # the console's case routes
        args["case_id"] = case_id
    return route.generate(args)


@pytest.fixture
def matrix_cases(world: Any, dbsession: Any) -> dict[str, int]:
    """Case ids for the console routes: a closed case of ``own``, a fresh one of ``other``."""
    from cati.models import CallingZone, Case

    zone = CallingZone(tz="Europe/Berlin", country="DE", region="BE")
    dbsession.add(zone)
    dbsession.flush()
    own = Case(study_id=world.own.id, ref="M-1", zone_id=zone.id, state="final", outcome="complete", aapor="1.1")
    other = Case(study_id=world.other.id, ref="M-2", zone_id=zone.id)
    dbsession.add_all([own, other])
    dbsession.flush()
    return {"own": own.id, "other": other.id, "missing": 987654321}


class _Session:
    """One role's browser: logged in (or not), with the CSRF token of its session."""

    def __init__(self, make_app: Any, role: str, username: str | None) -> None:
        self.make_app, self.role, self.username = make_app, role, username
        self.connect()

    def connect(self) -> None:
        self.app = self.make_app()
        if self.username:
            assert login(self.app, self.username).status_int == 303
        self.token = csrf_token(self.app)

    def request(self, method: str, path: str, data: dict[str, str]) -> int:
        if method == "GET":
            return self.app.get(path, status="*").status_int
        return self.app.post(path, {**data, "csrf_token": self.token}, status="*").status_int


@pytest.mark.parametrize("role", ALL_ROLES)
def test_authorization_matrix(role, world, browser, app, matrix_cases):
    slugs = {"own": world.own.slug, "other": world.other.slug, "missing": "no-such-study"}
    session = _Session(browser, role, None if role == "anonymous" else world.users[role].username)
    mismatches = []
    checked = 0
    for name in sorted(MATRIX, key=lambda n: n == "auth.logout"):  # logging out last keeps it cheap
        for method, expected in MATRIX[name].items():
            cases = expected.items() if "own" in expected else [(None, expected)]
            for target, by_role in cases:
                path = _path(app, name, slugs[target] if target else None,
                             matrix_cases[target] if target else None)
                status = session.request(method, path, POST_DATA.get(name, {}))
                checked += 1
                if status != by_role[role]:
                    mismatches.append(f"{method} {path} ({name}{'/' + target if target else ''}): "
                                      f"expected {by_role[role]}, got {status}")
                if (name, method) in LOGS_OUT and session.username:
                    session.connect()
    assert checked > 20
    assert not mismatches, f"as {role}:\n" + "\n".join(mismatches)


def test_refused_posts_change_nothing(world, as_role, dbsession):
    """The matrix's refused POSTs reach no service: status and membership stay as seeded."""
    app = as_role("supervisor")
    token = csrf_token(app)
    app.post(f"/studies/{world.own.slug}/status", {"status": "closed", "csrf_token": token}, status=403)
    app.post(f"/studies/{world.own.slug}/members/remove",
             {"user_id": str(world.users["interviewer"].id), "csrf_token": token}, status=403)
    dbsession.expire_all()
    assert world.own.status == "field"
    assert {m.user_id for m in world.own.members} == {world.users["supervisor"].id, world.users["interviewer"].id}
