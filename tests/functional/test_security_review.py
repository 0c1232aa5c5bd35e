"""Security review of the web layer: what test_authorization_matrix.py, test_visibility.py and
test_auth.py do not cover yet. Each test either proves a fix (its docstring names the flaw) or
guards a property that already held but had no test (said so in its docstring)."""

from __future__ import annotations

import pytest

from .conftest import csrf_token, login


class TestLogout:
    def test_a_copy_of_the_session_cookie_is_dead_after_logout(self, world, browser):
        """Flaw fixed: the session is a signed cookie, and logging out only cleared it in the
        browser that logged out; a copy taken before (shared workstation, stolen cookie) went on
        working until it timed out."""
        app = browser()
        assert login(app, "rita").status_int == 303
        copied = app.cookies["cati_session"]
        app.post("/logout", {"csrf_token": csrf_token(app)}, status=303)

        thief = browser()
        thief.set_cookie("cati_session", copied)
        response = thief.get("/studies", status=303)
        assert response.location.startswith("http://cati.test/login")
        # Logging in again works, and the new session does.
        assert login(browser(), "rita").follow().status_int == 200


HUGE = "9" * 30  # no row's id; overflows a 64-bit integer
SUPERSCRIPT_TWO = "%C2%B2"  # "²": str.isdigit() says yes, int() says no


class TestIdsThatCannotBeIds:
    """Flaw fixed: ids in URLs, forms and query strings went to the database unchecked. One longer
    than its integer raised OverflowError (SQLite), and "²" passed ``str.isdigit`` and made int()
    raise: a 500 (an error page from the server, a traceback in development) instead of a 404,
    a refused form or a 400."""

    @pytest.mark.parametrize(("role", "path"), [
        ("interviewer", "/console/cases/{id}"),
        ("client", "/portal/{slug}/downloads/{id}"),
        ("supervisor", "/studies/{slug}/cases/{id}"),
        ("admin", "/admin/users/{id}/password"),
    ])
    @pytest.mark.parametrize("raw", [HUGE, SUPERSCRIPT_TWO])
    def test_pages_are_not_found(self, world, as_role, role, path, raw):
        as_role(role).get(path.format(slug=world.own.slug, id=raw), status=404)

    @pytest.mark.parametrize(("role", "path"), [
        ("supervisor", "/studies/{slug}/cases/{id}/release"),
        ("supervisor", "/studies/{slug}/backchecks/{id}"),
        ("admin", "/admin/users/{id}/active"),
    ])
    @pytest.mark.parametrize("raw", [HUGE, SUPERSCRIPT_TWO])
    def test_posts_are_not_found(self, world, as_role, role, path, raw):
        app = as_role(role)
        app.post(path.format(slug=world.own.slug, id=raw), {"csrf_token": csrf_token(app), "active": "0"},
                 status=404)

    @pytest.mark.parametrize("raw", [HUGE, "²"])
    def test_person_fields_are_refused(self, world, as_role, raw):
        supervisor = as_role("supervisor")
        for action in ("members", "members/remove", "skills"):
            page = supervisor.post(f"/studies/{world.own.slug}/control/{action}",
                                   {"user_id": raw, "csrf_token": csrf_token(supervisor)}, status=422)
            assert "Bitte wählen Sie eine Person." in page.text
        admin = as_role("admin")
        for action in ("members", "members/remove"):
            admin.post(f"/studies/{world.own.slug}/{action}", {"user_id": raw, "csrf_token": csrf_token(admin)},
                       status=422)

    @pytest.mark.parametrize("query", [f"user={HUGE}", "user=%C2%B2", f"before=2026-01-01T00:00:00|{HUGE}"])
    def test_audit_filters_are_bad_requests(self, world, as_role, query):
        as_role("supervisor").get(f"/studies/{world.own.slug}/audit?{query}", status=400)
