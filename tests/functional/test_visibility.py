"""Each role sees its own studies and nothing of anybody else's."""

from __future__ import annotations


def study_names(page):
    return {a.text.strip() for a in page.html.select("main td a[href*='/studies/']")}


class TestClient:
    def test_start_page_lists_only_own_studies(self, world, as_role):
        page = as_role("client").get("/")
        assert study_names(page) == {"Acme Bike Concept"}
        assert "Other Secret Product" not in page.text

    def test_other_clients_study_is_not_found(self, world, as_role):
        page = as_role("client").get(f"/studies/{world.other.slug}", status=404)
        assert "Other Secret Product" not in page.text

    def test_own_study_shows_versions_but_no_team_or_settings(self, world, as_role):
        page = as_role("client").get(f"/studies/{world.own.slug}", status=200)
        assert "Acme Bike Concept" in page.text
        assert page.html.find(id="versions-heading")
        assert not page.html.find(id="members-heading")
        assert not page.html.find(id="settings-heading")
        assert not page.html.find("form", id="status-form")
        assert "Ines Interviewer" not in page.text

    def test_no_management_navigation(self, world, as_role):
        page = as_role("client").get("/")
        assert "/admin/users" not in page.text
        assert 'href="http://cati.test/studies"' not in page.text
        assert "/studies/new" not in page.text


class TestInterviewer:
    def test_start_page_lists_assigned_studies_in_field(self, world, as_role):
        page = as_role("interviewer").get("/")
        assert [h.text for h in page.html.select(".card h3")] == ["Acme Bike Concept"]
        assert "Other Secret Product" not in page.text

    def test_next_case_button_goes_to_the_console(self, world, as_role):
        page = as_role("interviewer").get("/")
        assert page.forms["next-form"].action.endswith("/console/next")
        assert "Nächster Fall" in page.html.find(id="next-form").text
        assert page.html.find("button", disabled=True) is None

    def test_studies_not_in_field_are_not_listed(self, world, as_role, dbsession):
        world.own.status = "paused"
        dbsession.flush()
        page = as_role("interviewer").get("/")
        assert not page.html.select(".card")
        assert "Ihnen ist zurzeit keine Studie im Feld zugeordnet." in page.text

    def test_unassigned_interviewer_sees_nothing(self, world, as_role, dbsession):
        from .conftest import add_user, login

        add_user(dbsession, "otto", "interviewer")
        app = as_role("anonymous")
        page = login(app, "otto").follow()
        assert not page.html.select(".card")

    def test_study_pages_are_closed(self, world, as_role):
        app = as_role("interviewer")
        app.get(f"/studies/{world.own.slug}", status=403)
        app.get(f"/studies/{world.other.slug}", status=404)


class TestSupervisor:
    def test_start_page_lists_own_studies_with_status(self, world, as_role):
        page = as_role("supervisor").get("/")
        assert study_names(page) == {"Acme Bike Concept"}
        assert page.html.select_one("tbody .badge").text == "Im Feld"

    def test_sees_team_and_settings_but_cannot_change_them(self, world, as_role):
        page = as_role("supervisor").get(f"/studies/{world.own.slug}")
        assert page.html.find(id="members-heading")
        assert "Ines Interviewer" in page.text
        assert page.html.find(id="settings-heading")
        assert not page.html.find("form", id="member-form")
        assert not page.html.find("form", id="settings-form")
        assert not page.html.find("form", id="status-form")


class TestStaff:
    def test_researcher_sees_all_studies(self, world, as_role):
        page = as_role("researcher").get("/")
        assert study_names(page) == {"Acme Bike Concept", "Other Secret Product"}
        listing = as_role("researcher").get("/studies")
        assert study_names(listing) == {"Acme Bike Concept", "Other Secret Product"}

    def test_unknown_study_is_404_page(self, world, as_role):
        page = as_role("admin").get("/studies/no-such-study", status=404)
        assert "Nicht gefunden" in page.text
