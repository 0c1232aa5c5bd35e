"""German by default, English on request; the user's saved choice wins over the cookie."""

from __future__ import annotations

from .conftest import login


def switch_to(page, locale):
    form = page.forms["language-form"]
    return form.submit("locale", value=locale, status=303)


class TestLanguage:
    def test_german_is_the_default(self, world, browser):
        page = browser().get("/login")
        assert page.html.find("html")["lang"] == "de"
        assert page.html.find("h1").text == "Anmelden"
        assert "Benutzername" in page.text

    def test_switch_to_english_before_login(self, world, browser):
        app = browser()
        response = switch_to(app.get("/login?next=/studies"), "en")
        assert response.location == "http://cati.test/login?next=/studies"
        page = response.follow()
        assert page.html.find("html")["lang"] == "en"
        assert page.html.find("h1").text == "Log in"
        assert "Username" in page.text

    def test_switch_without_csrf_token_is_refused(self, world, browser):
        browser().post("/locale", {"locale": "en"}, status=400)

    def test_unknown_locale_is_refused(self, world, browser):
        app = browser()
        form = app.get("/login").forms["language-form"]
        fields = dict(form.submit_fields())
        app.post("/locale", {**fields, "locale": "fr"}, status=400)  # a tampered button value

    def test_switch_goes_back_only_to_local_pages(self, world, browser):
        app = browser()
        form = app.get("/login").forms["language-form"]
        form["next"] = "https://evil.example/"
        assert form.submit("locale", value="en", status=303).location == "http://cati.test/"

    def test_logged_in_switch_is_saved_for_the_user(self, world, browser, dbsession):
        app = browser()
        home = login(app, "rita").follow()
        assert "Willkommen" in home.text
        page = switch_to(home, "en").follow()
        assert "Welcome, Rita Researcher" in page.text
        assert world.users["researcher"].locale == "en"

    def test_saved_locale_wins_over_cookie(self, world, browser, dbsession):
        world.users["researcher"].locale = "en"
        dbsession.flush()
        app = browser()
        app.set_cookie("_LOCALE_", "de")
        page = login(app, "rita").follow()
        assert page.html.find("html")["lang"] == "en"
        assert "Welcome, Rita Researcher" in page.text

    def test_labels_and_dates_are_translated(self, world, as_role):
        app = as_role("admin")
        german = app.get("/studies")
        assert "Im Feld" in german.text
        assert "Marktforschung" in german.text
        english = switch_to(german, "en").follow()
        assert "In field" in english.text
        assert "Market research" in english.text

    def test_switch_after_a_refused_post_returns_to_the_form_page(self, world, as_role):
        app = as_role("admin")
        page = app.get(f"/studies/{world.own.slug}")
        refused = page.forms["settings-form"].submit(status=422, headers={"Referer": page.request.url})
        assert refused.forms["language-form"]["next"].value == f"/studies/{world.own.slug}"
