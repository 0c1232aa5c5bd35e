"""Logging in and out: the happy path, the refusals, and the protections around them."""

from __future__ import annotations

import sqlite3

import pytest
import webtest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati.models import LoginFailure, User
from cati.services import users

from .conftest import PASSWORD, add_user, csrf_token, login


class TestLogin:
    def test_anonymous_is_sent_to_login_with_next(self, world, browser):
        response = browser().get("/studies", status=303)
        assert response.location == "http://cati.test/login?next=%2Fstudies"

    def test_login_shows_start_page_with_name(self, world, browser):
        app = browser()
        response = login(app, "rita")
        assert response.status_int == 303
        assert response.location == "http://cati.test/"
        page = response.follow()
        assert "Rita Researcher" in page.text
        assert page.html.find("h1").text.strip() == "Willkommen, Rita Researcher"

    def test_login_returns_to_local_next(self, world, browser):
        response = login(browser(), "rita", next="/studies/acme-bikes")
        assert response.location == "http://cati.test/studies/acme-bikes"

    @pytest.mark.parametrize("target", [
        "https://evil.example/phish",
        "//evil.example/phish",
        "/\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "studies",
    ])
    def test_open_redirect_refused(self, world, browser, target):
        response = login(browser(), "rita", next=target)
        assert response.status_int == 303
        assert response.location == "http://cati.test/"

    def test_logged_in_user_visiting_login_goes_home(self, world, as_role):
        app = as_role("researcher")
        assert app.get("/login", status=303).location == "http://cati.test/"

    def test_username_is_case_insensitive(self, world, browser):
        assert login(browser(), "RITA").status_int == 303


class TestFailedLogin:
    def test_wrong_password_gives_generic_message(self, world, browser):
        response = login(browser(), "rita", "wrong password")
        assert response.status_int == 422
        assert "Benutzername oder Passwort ist falsch." in response.text
        assert "Rita" not in response.text.replace('value="rita"', "")

    def test_unknown_user_gets_the_same_message(self, world, browser):
        wrong_password = login(browser(), "rita", "wrong password")
        unknown_user = login(browser(), "nobody-here", "wrong password")
        assert unknown_user.status_int == wrong_password.status_int == 422
        notice = wrong_password.html.find(class_="notice-error").text
        assert unknown_user.html.find(class_="notice-error").text == notice

    def test_inactive_user_gets_the_same_message(self, world, browser, dbsession):
        world.users["researcher"].active = False
        dbsession.flush()
        response = login(browser(), "rita")
        assert response.status_int == 422
        assert "Benutzername oder Passwort ist falsch." in response.text

    def test_failure_is_recorded(self, world, browser, dbsession):
        login(browser(), "rita", "wrong password")
        count = dbsession.scalar(select(func.count()).select_from(LoginFailure).where(LoginFailure.username == "rita"))
        assert count == 1

    def test_empty_form_is_refused_with_field_messages(self, world, browser):
        app = browser()
        form = app.get("/login").forms["login-form"]
        response = form.submit(status=422)
        assert "Bitte geben Sie Ihren Benutzernamen ein." in response.text
        assert "Bitte geben Sie Ihr Passwort ein." in response.text

    def test_throttled_after_max_failures_even_with_right_password(self, world, browser, settings):
        app = browser()
        max_failures = int(settings["cati.login_max_failures"])
        for _ in range(max_failures):
            assert login(app, "rita", "wrong password").status_int == 422
        response = login(app, "rita", PASSWORD)
        assert response.status_int == 429
        minutes = int(settings["cati.login_lockout_seconds"]) // 60
        assert f"Bitte versuchen Sie es in {minutes} Minuten erneut." in response.text
        assert 0 < int(response.headers["Retry-After"]) <= int(settings["cati.login_lockout_seconds"])
        app.get("/", status=303)  # still not logged in

    def test_throttle_message_in_english(self, world, browser, settings):
        app = browser()
        app.set_cookie("_LOCALE_", "en")
        for _ in range(int(settings["cati.login_max_failures"])):
            login(app, "rita", "wrong password")
        response = login(app, "rita", PASSWORD)
        assert response.status_int == 429
        assert "Too many failed logins. Please try again in 5 minutes." in response.text

    def test_throttled_attempt_computes_no_hash(self, world, browser, settings, monkeypatch):
        app = browser()
        for _ in range(int(settings["cati.login_max_failures"])):
            login(app, "rita", "wrong password")
        verified = []
        monkeypatch.setattr(users, "verify_password", lambda *args: verified.append(args) or True)
        assert login(app, "rita", PASSWORD).status_int == 429
        assert verified == []


class TestLoginAndTheSQLiteWriteLock:
    """Requests run in their real transactions here (committed, on the session's database file),
    not inside the test's rolled-back one."""

    @pytest.fixture
    def committed_app(self, app, engine, clean_database):
        if engine.dialect.name != "sqlite":
            pytest.skip("the write lock is SQLite's")
        with Session(engine) as session, session.begin():
            add_user(session, "rita", "researcher", display_name="Rita Researcher")
        return webtest.TestApp(app, extra_environ={"HTTP_HOST": "cati.test", "REMOTE_ADDR": "192.0.2.10"})

    def test_password_is_verified_while_others_can_write(self, committed_app, engine, monkeypatch):
        # Argon2 takes 50-150 ms: holding the write lock meanwhile would stall every answer
        # submission behind each login.
        verify_password, writes = users.verify_password, []

        def verify_while_another_connection_writes(password_hash, password):
            other = sqlite3.connect(engine.url.database, timeout=0.2, isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
                writes.append("written")
            except sqlite3.OperationalError as error:
                writes.append(str(error))
            finally:
                other.close()
            return verify_password(password_hash, password)

        monkeypatch.setattr(users, "verify_password", verify_while_another_connection_writes)
        assert login(committed_app, "rita", "wrong password").status_int == 422
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(LoginFailure)) == 1
        assert login(committed_app, "rita").status_int == 303
        assert writes == ["written", "written"]
        with Session(engine) as session:  # the writing half still ran, in the request's transaction
            assert session.scalar(select(func.count()).select_from(LoginFailure)) == 0
            assert session.scalar(select(User.last_login_at).where(User.username == "rita")) is not None


class TestLogout:
    def test_logout_by_post(self, world, as_role):
        app = as_role("researcher")
        home = app.get("/", status=200)
        response = home.forms["logout-form"].submit(status=303)
        assert response.location == "http://cati.test/login"
        assert "Sie wurden abgemeldet." in response.follow().text
        assert app.get("/", status=303).location.startswith("http://cati.test/login")

    def test_logout_get_only_asks(self, world, as_role):
        app = as_role("researcher")
        page = app.get("/logout", status=200)
        assert "Möchten Sie sich abmelden?" in page.text
        assert app.get("/", status=200)  # still logged in
        page.forms["logout-confirm-form"].submit(status=303)
        assert app.get("/", status=303)

    def test_logout_without_csrf_token_is_refused(self, world, as_role):
        app = as_role("researcher")
        response = app.post("/logout", status=400)
        assert "Formular abgelaufen" in response.text
        assert app.get("/", status=200)  # still logged in


class TestCSRF:
    def test_login_post_without_token_is_refused(self, world, browser):
        response = browser().post("/login", {"username": "rita", "password": PASSWORD}, status=400)
        assert "Sicherheitsschlüssel" in response.text

    def test_login_post_with_foreign_token_is_refused(self, world, browser):
        attacker = browser()
        token = csrf_token(attacker)
        victim = browser()
        victim.get("/login")
        victim.post("/login", {"username": "rita", "password": PASSWORD, "csrf_token": token}, status=400)

    def test_state_changing_post_without_token_is_refused(self, world, as_role, dbsession):
        app = as_role("admin")
        app.post("/admin/users/new", {"username": "mallory", "role": "admin", "password": "x" * 12,
                                      "password_confirm": "x" * 12}, status=400)
        app.post(f"/studies/{world.own.slug}/status", {"status": "closed"}, status=400)
        dbsession.refresh(world.own)
        assert world.own.status == "field"

    def test_token_rotates_at_login(self, world, browser):
        app = browser()
        before = csrf_token(app)
        login(app, "rita")
        assert csrf_token(app) != before


class TestCookiesAndHeaders:
    def test_session_cookie_flags(self, world, browser):
        app = browser()
        app.get("/login")
        response = login(app, "rita")
        cookie = next(v for k, v in response.headerlist if k == "Set-Cookie" and v.startswith("cati_session="))
        attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
        assert "httponly" in attributes
        assert "samesite=lax" in cookie.lower().replace(" ", "")
        assert "secure" not in attributes  # cati.secure_cookies is off in the tests

    def test_locale_cookie_flags(self, world, browser):
        app = browser()
        response = app.get("/login").forms["language-form"].submit("locale", index=1, status=303)
        cookie = next(v for k, v in response.headerlist if k == "Set-Cookie" and v.startswith("_LOCALE_="))
        assert "httponly" in cookie.lower()
        assert "samesite=lax" in cookie.lower().replace(" ", "")

    @pytest.mark.parametrize("path", ["/login", "/", "/static/cati.css", "/does-not-exist"])
    def test_security_headers(self, world, browser, path):
        response = browser().get(path, status="*")
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp
        assert "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp

    def test_pages_are_not_cached_but_static_files_are(self, world, as_role):
        app = as_role("researcher")
        assert app.get("/").headers["Cache-Control"] == "no-store"
        css = app.get("/static/cati.css")
        assert "max-age=" in css.headers["Cache-Control"]

    def test_no_external_resources(self, world, as_role):
        page = as_role("admin").get("/")
        for tag, attr in (("link", "href"), ("script", "src"), ("img", "src")):
            for element in page.html.find_all(tag):
                assert element[attr].startswith("http://cati.test/"), element


class TestEscaping:
    def test_names_are_escaped_everywhere(self, world, as_role, dbsession):
        world.users["admin"].display_name = '<script>alert("x")</script>'
        world.own.name = "<b>bold</b> & co"
        dbsession.flush()
        app = as_role("admin")
        for path in ("/", "/studies", "/admin/users", f"/studies/{world.own.slug}"):
            page = app.get(path)
            assert "<script>alert" not in page.text
            assert "<b>bold</b>" not in page.text
        assert "&lt;script&gt;" in app.get("/").text
        assert "&lt;b&gt;bold&lt;/b&gt; &amp; co" in app.get("/studies").text
