"""Security review of the web layer: what test_authorization_matrix.py, test_visibility.py and
test_auth.py do not cover yet. Each test either proves a fix (its docstring names the flaw) or
guards a property that already held but had no test (said so in its docstring)."""

from __future__ import annotations

import datetime as dt
import io
import random
import zipfile

import pytest
import webtest
from sqlalchemy import func, select

from cati.models import AuditEvent, ExportJob
from cati.services import backchecks, export_jobs

from .conftest import add_user, csrf_token, login


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
BEYOND_INT4 = "9" * 11  # fits 64 bits, but not the 32-bit keys of users (PostgreSQL: "integer out of range")
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
    @pytest.mark.parametrize("raw", [HUGE, SUPERSCRIPT_TWO, BEYOND_INT4])
    def test_pages_are_not_found(self, world, as_role, role, path, raw):
        as_role(role).get(path.format(slug=world.own.slug, id=raw), status=404)

    @pytest.mark.parametrize(("role", "path"), [
        ("supervisor", "/studies/{slug}/cases/{id}/release"),
        ("supervisor", "/studies/{slug}/backchecks/{id}"),
        ("admin", "/admin/users/{id}/active"),
    ])
    @pytest.mark.parametrize("raw", [HUGE, SUPERSCRIPT_TWO, BEYOND_INT4])
    def test_posts_are_not_found(self, world, as_role, role, path, raw):
        app = as_role(role)
        app.post(path.format(slug=world.own.slug, id=raw), {"csrf_token": csrf_token(app), "active": "0"},
                 status=404)

    @pytest.mark.parametrize("raw", [HUGE, "²", BEYOND_INT4])
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

    @pytest.mark.parametrize("query", [f"user={HUGE}", "user=%C2%B2", f"user={BEYOND_INT4}",
                                       f"before=2026-01-01T00:00:00|{HUGE}"])
    def test_audit_filters_are_bad_requests(self, world, as_role, query):
        as_role("supervisor").get(f"/studies/{world.own.slug}/audit?{query}", status=400)



@pytest.fixture
def https_app(settings, engine, testapp):
    """The app configured for HTTPS (``cati.secure_cookies = true``), reached over HTTPS."""
    from cati import main

    return webtest.TestApp(main({}, **settings, **{"cati.secure_cookies": "true", "cati.engine": engine}),
                           extra_environ={**testapp.extra_environ, "wsgi.url_scheme": "https",
                                          "HTTP_ORIGIN": "https://cati.test"})


class TestHttps:
    def test_cookies_are_secure_when_configured(self, https_app, world):
        """Guard (held, untested): with ``cati.secure_cookies = true`` the session and language
        cookies carry ``Secure`` besides ``HttpOnly`` and ``SameSite=Lax`` (test_auth.py only
        checks the default, where they must not)."""
        app = https_app
        cookies = {}
        for response in (login(app, "rita"), app.post("/locale", {"locale": "en", "next": "/",
                                                                   "csrf_token": csrf_token(app)})):
            for name, value in response.headerlist:
                if name == "Set-Cookie":
                    cookies[value.split("=", 1)[0]] = {part.strip().lower() for part in value.split(";")[1:]}
        for name in ("cati_session", "_LOCALE_"):
            assert {"secure", "httponly", "samesite=lax"} <= cookies[name], name

    @pytest.mark.parametrize("path", ["/login", "/static/cati.css", "/does-not-exist"])
    def test_browsers_are_told_to_stay_on_https(self, https_app, browser, world, path):
        """Flaw fixed: configured for HTTPS, the app sent no Strict-Transport-Security, so a
        browser given an http:// address (typed, or from an old bookmark) would send the login
        form's password in clear text before any redirect. Without HTTPS configured, none is sent."""
        assert https_app.get(path, status="*").headers["Strict-Transport-Security"] == "max-age=31536000"
        assert "Strict-Transport-Security" not in browser().get(path, status="*").headers


class TestClientExport:
    def test_data_file_has_answers_but_no_contact_data(self, dbsession, world, as_role, app, tmp_path,
                                                        monkeypatch):
        """Guard (held, untested end to end): a client's data download, with every group selected,
        holds a random respondent id and answers, never the case reference, name, numbers or a pii
        sample field or question (kd_name, kd_tel, F3) - those are only in the contact export."""
        from cati.services import testdata
        from cati.services.studies import create_study

        from .test_portal import EXAMPLES, request_file

        monkeypatch.setitem(app.registry.settings, "cati.export_dir", str(tmp_path))
        study = create_study(dbsession, source=(EXAMPLES / "haustech_nachkauf.yaml").read_text(encoding="utf-8"),
                             source_name="haustech.yaml", purpose="customer_satisfaction", client="Acme Mobility")
        testdata.generate(dbsession, study, 5, seed=7)
        dbsession.flush()
        file = request_file(as_role("client"), study.slug, "csv",
                            include=("complete", "partial", "screened", "test")).follow()
        with zipfile.ZipFile(io.BytesIO(file.body)) as archive:
            lines = archive.read(f"{study.slug}.csv").decode("utf-8-sig").splitlines()
            codebook = archive.read(f"{study.slug}_codebook.csv").decode("utf-8-sig")
        header = set(lines[0].split(","))
        assert len(lines) > 1 and {"resp_id", "N1"} <= header
        personal = {"case_ref", "contact_name", "contact_phone", "kd_name", "kd_tel", "F3"}
        assert not header & personal
        assert not any(f"{name}," in codebook for name in personal)


class TestHeadRequests:
    def test_head_of_a_download_records_no_download(self, dbsession, world, as_role, app, tmp_path, monkeypatch):
        """Flaw fixed: a HEAD request for a finished export (a link checker, a browser's
        prefetch, a script asking whether the file is there) was audited as ``export.download``
        although no data left the server: the audit trail said a client had the data."""
        folder = tmp_path / "exports"
        monkeypatch.setitem(app.registry.settings, "cati.export_dir", str(folder))
        job = ExportJob(study_id=world.own.id, format="csv", options={}, fingerprint="x", status="done",
                        download="acme.csv")
        dbsession.add(job)
        dbsession.flush()
        path = export_jobs.folder_of(job, folder) / "acme.csv"
        path.parent.mkdir(parents=True)
        path.write_text("resp_id\n")
        client = as_role("client")
        url = f"/portal/{world.own.slug}/downloads/{job.id}"

        def downloads():
            return dbsession.scalar(select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "export.download"))

        head = client.head(url, status=200)
        assert head.headers["Content-Disposition"] == 'attachment; filename="acme.csv"'
        assert downloads() == 0
        assert client.get(url, status=200).body == b"resp_id\n"
        assert downloads() == 1



class TestLoginThrottle:
    def test_a_forged_forwarded_for_header_does_not_dodge_the_address_throttle(self, world, browser):
        """Flaw fixed: the throttle per address read WebOb's ``client_addr``, which believes any
        client's ``X-Forwarded-For``; a new made-up address per request tried passwords across
        many usernames (password spraying) without limit. The address is the connection's
        (``REMOTE_ADDR``; behind a proxy, the WSGI server's trusted-proxy setting fills it)."""
        app = browser()
        for n in range(25):  # 5 x cati.login_max_failures failures from one machine
            app.extra_environ["HTTP_X_FORWARDED_FOR"] = f"198.51.100.{n}"
            assert login(app, f"nobody{n}", "guess").status_int == 422
        app.extra_environ["HTTP_X_FORWARDED_FOR"] = "198.51.100.200"
        response = login(app, "rita")  # right password, untouched username: the address is locked
        assert response.status_int == 429
        assert int(response.headers["Retry-After"]) > 0



class TestIdsOfAnotherStudy:
    """Guards (held, untested): ids of another study's rows, put into the URL or a form of a study
    the supervisor runs, reach nothing of the other study."""

    def test_back_check_of_another_study(self, world, as_role, dbsession):
        from tests.fieldwork_seed import add_interview, make_study

        other = make_study(dbsession, slug="fremd")
        add_interview(dbsession, other, None, world.users["interviewer"], started_at=dt.datetime.now(dt.UTC))
        [check] = backchecks.draw(dbsession, other, rng=random.Random(1))
        app = as_role("supervisor")
        app.post(f"/studies/{world.own.slug}/backchecks/{check.id}",
                 {"result": "failed", "invalidate": "yes", "csrf_token": csrf_token(app)}, status=404)
        dbsession.refresh(check)
        assert (check.status, check.invalidated) == ("pending", False)

    def test_case_handed_to_an_interviewer_of_another_study(self, world, as_role, dbsession):
        from tests.fieldwork_seed import add_case, zone

        stranger = add_user(dbsession, "otto", "interviewer", display_name="Otto Outsider")
        case = add_case(dbsession, world.own, "S-1", zone_id=zone(dbsession, world.own, "BE"))
        app = as_role("supervisor")
        page = app.post(f"/studies/{world.own.slug}/cases/{case.id}/reassign",
                        {"user_id": str(stranger.id), "csrf_token": csrf_token(app)}, status=422)
        assert "Otto Outsider is not assigned to this study" in page.text
        dbsession.refresh(case)
        assert case.reserved_for is None


class TestOpenRedirect:
    @pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example",
                                        "/\t/evil.example", "javascript:alert(1)"])
    def test_language_switch_stays_on_the_site(self, world, browser, target):
        """Guard (held, untested): the language switch's ``next`` goes through the same check as
        the login's (test_auth.py tests only the login)."""
        app = browser()
        response = app.post("/locale", {"locale": "en", "next": target, "csrf_token": csrf_token(app)}, status=303)
        assert response.location == "http://cati.test/"
