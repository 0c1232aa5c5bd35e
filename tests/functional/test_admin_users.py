"""User administration: admins create users, researchers may only look."""

from __future__ import annotations

from sqlalchemy import select

from cati.models import AuditEvent, User

from .conftest import PASSWORD, csrf_token, login


def fill(form, **values):
    for name, value in values.items():
        form[name] = value
    return form


class TestCreateUser:
    def test_admin_creates_an_interviewer_who_can_log_in(self, world, as_role, browser, dbsession):
        app = as_role("admin")
        form = app.get("/admin/users").click(href="/admin/users/new").forms["user-form"]
        fill(form, username="Nora", display_name="Nora Neu", first_name="Nora", role="interviewer",
             password="s3cret-enough", password_confirm="s3cret-enough")
        response = form.submit(status=303)
        assert response.location == "http://cati.test/admin/users"
        listing = response.follow()
        assert "Benutzer nora angelegt." in listing.text
        assert "Nora Neu" in listing.text
        user = dbsession.scalar(select(User).where(User.username == "nora"))
        assert user.role == "interviewer"
        assert user.password_hash.startswith("$argon2id$")
        event = dbsession.scalar(select(AuditEvent).where(AuditEvent.action == "user.create",
                                                          AuditEvent.target == f"user:{user.id}"))
        assert event.user_id == world.users["admin"].id
        assert login(browser(), "nora", "s3cret-enough").status_int == 303

    def test_admin_creates_a_client_user_with_organisation(self, world, as_role, dbsession):
        app = as_role("admin")
        form = fill(app.get("/admin/users/new").forms["user-form"], username="kim", role="client",
                    client="Acme Mobility", password="s3cret-enough", password_confirm="s3cret-enough")
        form.submit(status=303)
        user = dbsession.scalar(select(User).where(User.username == "kim"))
        assert user.client_id == world.acme.id

    def test_client_user_needs_organisation(self, world, as_role, dbsession):
        app = as_role("admin")
        form = fill(app.get("/admin/users/new").forms["user-form"], username="kim", role="client",
                    password="s3cret-enough", password_confirm="s3cret-enough")
        response = form.submit(status=422)
        assert "Kunden-Benutzer brauchen die Kundenorganisation" in response.text
        assert response.forms["user-form"]["username"].value == "kim"
        assert dbsession.scalar(select(User).where(User.username == "kim")) is None

    def test_field_errors_are_shown_next_to_fields(self, world, as_role):
        app = as_role("admin")
        form = fill(app.get("/admin/users/new").forms["user-form"], username="Bad Name!", role="interviewer",
                    password="short", password_confirm="other")
        response = form.submit(status=422)
        assert "Bitte 2 bis 64 Zeichen" in response.text
        assert "Bitte mindestens 8 Zeichen." in response.text
        assert response.html.find("input", {"name": "username"})["aria-invalid"] == "true"
        # the password is never echoed back
        assert response.forms["user-form"]["password"].value == ""

    def test_duplicate_username_shows_the_service_message(self, world, as_role):
        app = as_role("admin")
        form = fill(app.get("/admin/users/new").forms["user-form"], username="rita", role="interviewer",
                    password="s3cret-enough", password_confirm="s3cret-enough")
        response = form.submit(status=422)
        assert "already exists" in response.text

    def test_researcher_sees_users_but_cannot_create(self, world, as_role):
        app = as_role("researcher")
        listing = app.get("/admin/users", status=200)
        assert "Ines Interviewer" in listing.text
        assert "/admin/users/new" not in listing.text
        app.get("/admin/users/new", status=403)

    def test_others_see_no_user_list(self, world, as_role):
        for role in ("supervisor", "interviewer", "client"):
            page = as_role(role).get("/admin/users", status=403)
            assert "Zugriff verweigert" in page.text


NEW_PASSWORD = "a brand new one 7"


def _audit(dbsession, action, user):
    return dbsession.scalars(select(AuditEvent).where(AuditEvent.action == action,
                                                      AuditEvent.target == f"user:{user.id}")).all()


def _logged_in(app):
    """Whether the client's session is still logged in: the start page, or the login page."""
    return app.get("/", status="*").status_int == 200


class TestDeactivate:
    def test_deactivation_ends_the_session_and_refuses_login(self, world, as_role, browser, dbsession):
        ines = world.users["interviewer"]
        victim = as_role("interviewer")
        assert _logged_in(victim)
        admin = as_role("admin")
        listing = admin.get("/admin/users")
        response = listing.forms[f"active-{ines.id}"].submit(status=303)
        assert "Benutzer ines deaktiviert" in response.follow().text
        assert victim.get("/", status=303).location.startswith("http://cati.test/login")
        assert login(browser(), "ines").status_int == 422
        dbsession.expire_all()
        assert not ines.active
        [event] = _audit(dbsession, "user.deactivate", ines)
        assert event.user_id == world.users["admin"].id
        # and back again: the button now activates
        admin.get("/admin/users").forms[f"active-{ines.id}"].submit(status=303)
        assert login(browser(), "ines").status_int == 303
        assert len(_audit(dbsession, "user.activate", ines)) == 1

    def test_admin_cannot_deactivate_themself(self, world, as_role, dbsession):
        alice = world.users["admin"]
        admin = as_role("admin")
        listing = admin.get("/admin/users")
        assert f"active-{alice.id}" not in listing.forms
        assert f"active-{world.users['interviewer'].id}" in listing.forms
        response = admin.post(f"/admin/users/{alice.id}/active", {"active": "0", "csrf_token": csrf_token(admin)},
                              status=422)
        assert "Sie können Ihr eigenes Konto nicht deaktivieren." in response.text
        assert _logged_in(admin)
        dbsession.expire_all()
        assert alice.active and alice.session_version == 0

    def test_csrf_token_is_required(self, world, as_role, dbsession):
        ines = world.users["interviewer"]
        admin = as_role("admin")
        admin.post(f"/admin/users/{ines.id}/active", {"active": "0"}, status=400)
        admin.post(f"/admin/users/{ines.id}/password", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
                   status=400)
        dbsession.expire_all()
        assert ines.active and ines.session_version == 0

    def test_only_admins_manage_users(self, world, as_role, dbsession):
        ines = world.users["interviewer"]
        listing = as_role("researcher").get("/admin/users")
        assert f"/admin/users/{ines.id}/" not in listing.text
        for role in ("researcher", "supervisor", "interviewer", "client"):
            app = as_role(role)
            token = csrf_token(app)
            app.post(f"/admin/users/{ines.id}/active", {"active": "0", "csrf_token": token}, status=403)
            app.get(f"/admin/users/{ines.id}/password", status=403)
            app.post(f"/admin/users/{ines.id}/password", {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD,
                                                           "csrf_token": token}, status=403)
        dbsession.expire_all()
        assert ines.active and ines.session_version == 0


class TestSetPassword:
    def test_admin_resets_a_password(self, world, as_role, browser, dbsession):
        ines = world.users["interviewer"]
        victim = as_role("interviewer")
        admin = as_role("admin")
        page = admin.get("/admin/users").click(href=f"/admin/users/{ines.id}/password")
        form = fill(page.forms["password-form"], password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
        response = form.submit(status=303)
        assert "Passwort von ines geändert" in response.follow().text
        assert not _logged_in(victim)
        assert login(browser(), "ines").status_int == 422
        assert login(browser(), "ines", NEW_PASSWORD).status_int == 303
        [event] = _audit(dbsession, "user.password", ines)
        assert event.user_id == world.users["admin"].id and NEW_PASSWORD not in repr(event.details)

    def test_an_admin_s_own_password_goes_through_the_own_password_form(self, world, as_role, dbsession):
        me = world.users["admin"]
        admin = as_role("admin")
        listing = admin.get("/admin/users")
        assert not listing.html.select(f'a[href$="/admin/users/{me.id}/password"]')
        assert admin.get(f"/admin/users/{me.id}/password", status=303).location.endswith("/account/password")
        admin.post(f"/admin/users/{me.id}/password", {"csrf_token": csrf_token(admin), "password": NEW_PASSWORD,
                                                        "password_confirm": NEW_PASSWORD}, status=303)
        dbsession.expire_all()
        assert me.session_version == 0 and _audit(dbsession, "user.password", me) == []

    def test_passwords_must_match_and_be_long_enough(self, world, as_role, dbsession):
        ines = world.users["interviewer"]
        admin = as_role("admin")
        form = fill(admin.get(f"/admin/users/{ines.id}/password").forms["password-form"],
                    password=NEW_PASSWORD, password_confirm="something else")
        assert "Die beiden Passwörter stimmen nicht überein." in form.submit(status=422).text
        form = fill(admin.get(f"/admin/users/{ines.id}/password").forms["password-form"],
                    password="short", password_confirm="short")
        assert "Bitte mindestens 8 Zeichen." in form.submit(status=422).text
        dbsession.expire_all()
        assert ines.session_version == 0
        assert _audit(dbsession, "user.password", ines) == []


class TestOwnPassword:
    def test_change_keeps_this_session_and_ends_the_others(self, world, as_role, browser):
        here = as_role("supervisor")
        elsewhere = as_role("supervisor")
        page = here.get("/").click(href="/account/password")
        form = fill(page.forms["password-form"], current_password=PASSWORD, password=NEW_PASSWORD,
                    password_confirm=NEW_PASSWORD)
        response = form.submit(status=303)
        assert "Ihr Passwort wurde geändert" in response.follow().text
        assert _logged_in(here)
        assert not _logged_in(elsewhere)
        assert login(browser(), "sven", PASSWORD).status_int == 422
        assert login(browser(), "sven", NEW_PASSWORD).status_int == 303

    def test_wrong_current_password_changes_nothing(self, world, as_role, dbsession):
        app = as_role("interviewer")
        form = fill(app.get("/account/password").forms["password-form"], current_password="not my password",
                    password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
        response = form.submit(status=422)
        assert "Das bisherige Passwort ist nicht richtig." in response.text
        assert response.forms["password-form"]["current_password"].value == ""
        dbsession.expire_all()
        assert world.users["interviewer"].session_version == 0
        assert _logged_in(app)

    def test_wrong_current_passwords_are_throttled_like_logins(self, world, as_role, dbsession):
        from cati.models import LoginFailure

        app = as_role("interviewer")
        for _ in range(5):
            form = fill(app.get("/account/password").forms["password-form"], current_password="guess",
                        password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
            form.submit(status=422)
        username = world.users["interviewer"].username
        assert len(dbsession.scalars(select(LoginFailure).where(LoginFailure.username == username)).all()) == 5
        form = fill(app.get("/account/password").forms["password-form"], current_password=PASSWORD,
                    password=NEW_PASSWORD, password_confirm=NEW_PASSWORD)
        response = form.submit(status=429)  # even the right one, until the lockout has passed
        assert response.headers["Retry-After"].isdigit() and "Zu viele" in response.text
        dbsession.expire_all()
        assert world.users["interviewer"].session_version == 0

    def test_csrf_token_is_required(self, world, as_role, dbsession):
        app = as_role("client")
        app.post("/account/password", {"current_password": PASSWORD, "password": NEW_PASSWORD,
                                       "password_confirm": NEW_PASSWORD}, status=400)
        dbsession.expire_all()
        assert world.users["client"].session_version == 0
