"""User administration: admins create users, researchers may only look."""

from __future__ import annotations

from sqlalchemy import select

from cati.models import AuditEvent, User

from .conftest import login


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
