"""Security review of the web layer: what test_authorization_matrix.py, test_visibility.py and
test_auth.py do not cover yet. Each test either proves a fix (its docstring names the flaw) or
guards a property that already held but had no test (said so in its docstring)."""

from __future__ import annotations

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
