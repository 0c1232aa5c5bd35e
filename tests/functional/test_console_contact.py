"""Contact data corrections, inbound calls and the start page of an interviewer."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from cati.models import Attempt, AuditEvent, Case, CasePhone, Contact, ContactChange
from cati.services import dnc
from cati.services.studies import update_settings

from . import test_console_journeys as journeys
from .conftest import csrf_token
from .test_console_journeys import case_id_of, interviewer_app, next_case, outcome, reload

clock, console_world, ines = journeys.clock, journeys.console_world, journeys.ines


def phones_of(session, case):
    session.flush()
    return [p.e164 for p in session.scalars(select(CasePhone).where(CasePhone.case_id == case.id)
                                           .order_by(CasePhone.position))]


class TestContactCorrection:
    def test_name_and_numbers_are_corrected_and_audited(self, console_world, ines, dbsession):
        page = next_case(ines)
        case = dbsession.get(Case, case_id_of(page))
        old_name = dbsession.get(Contact, case.id).name
        old_number = phones_of(dbsession, case)[0]
        form = page.forms["contact-form"]
        form["name"] = "Erika Mustermann-Neu"
        form["phone-1"] = "0170 1234567"
        form["add_phone"] = "+49 30 9998887"
        response = form.submit()
        assert response.status_int == 303
        page = response.follow()
        assert "Kontaktdaten gespeichert" in page.text and "Erika Mustermann-Neu" in page.text
        assert 'href="tel:+4917012345' in page.text and 'href="tel:+49309998887"' in page.text
        assert phones_of(dbsession, case) == ["+491701234567", "+49309998887"]
        event = dbsession.scalar(select(AuditEvent).where(AuditEvent.action == "contact.change"))
        assert event.user_id == console_world.interviewer.id and event.target == f"case:{case.ref}"
        assert [c["field"] for c in event.details["changes"]] == ["name", "phone_1", "phone_2"]
        assert "Mustermann" not in str(event.details) and old_number not in str(event.details)
        kept = {c.id: c for c in dbsession.scalars(select(ContactChange))}
        assert {c["field"]: [kept[c["id"]].old_value, kept[c["id"]].new_value] for c in event.details["changes"]} == {
            "name": [old_name, "Erika Mustermann-Neu"],
            "phone_1": [old_number, "+491701234567"],
            "phone_2": [None, "+49309998887"],
        }
        assert {c.user_id for c in kept.values()} == {console_world.interviewer.id}

    def test_nothing_changed_writes_nothing(self, console_world, ines, dbsession):
        page = next_case(ines)
        response = page.forms["contact-form"].submit().follow()
        assert "Es wurde nichts geändert" in response.text
        assert dbsession.scalar(select(AuditEvent).where(AuditEvent.action == "contact.change")) is None
        assert dbsession.scalar(select(ContactChange)) is None

    def test_invalid_duplicate_and_blocked_numbers_are_refused(self, console_world, ines, dbsession):
        page = next_case(ines)
        case = dbsession.get(Case, case_id_of(page))
        before = phones_of(dbsession, case)
        form = page.forms["contact-form"]
        form["add_phone"] = "12"
        refused = form.submit(status=422)
        assert "Keine gültige Telefonnummer" in refused.text
        assert refused.forms["contact-form"]["add_phone"].value == "12"
        form = refused.forms["contact-form"]
        form["add_phone"] = before[0]
        assert "hat diese Nummer bereits" in form.submit(status=422).text
        dnc.add_numbers(dbsession, ["+49301110000"], salt="cati-dnc")
        form["add_phone"] = "030 1110000"
        assert "Sperrliste" in form.submit(status=422).text
        assert phones_of(dbsession, case) == before


class TestInbound:
    def test_caller_is_found_by_number_and_the_case_opened(self, console_world, ines, dbsession):
        case = console_world.case(dbsession, "K-002")
        lookup = ines.get("/").forms["inbound-form"]
        lookup["phone"] = "+49 (0)221 4411002"
        found = lookup.submit()
        assert "Max Beispiel" in found.text and "K-002" in found.text
        response = found.forms[f"claim-{case.id}"].submit()
        assert response.location.endswith(f"/console/cases/{case.id}")
        page = response.follow()
        assert "Max Beispiel" in page.text and page.forms["start-form"] is not None
        reload(dbsession, case)
        assert (case.state, case.claimed_by) == ("claimed", console_world.interviewer.id)
        assert dbsession.scalar(select(AuditEvent.action).where(AuditEvent.action == "case.inbound"))
        # Looking up the same number again shows it as the interviewer's open case.
        again = ines.get("/console/lookup", {"phone": "0221 4411002"})
        assert again.html.find("a", href=f"http://cati.test/console/cases/{case.id}") is not None

    def test_inbound_is_refused_for_closed_taken_and_while_busy(self, console_world, ines, browser, dbsession):
        closed = console_world.case(dbsession, "K-001")
        closed.state, closed.outcome = "final", "hard_refusal"
        dbsession.flush()
        found = ines.get("/console/lookup", {"phone": "030 4411001"})
        assert found.html.find(id=f"claim-{closed.id}") is None and "abgeschlossen" in found.text
        token = csrf_token(ines)
        response = ines.post(f"/console/cases/{closed.id}/claim", {"csrf_token": token})
        assert response.location.endswith("/console/lookup")
        assert "abgeschlossen" in response.follow().text

        bert = interviewer_app(browser, "bert")
        taken = console_world.case(dbsession, "K-003")
        bert.get("/console/lookup", {"phone": "040 4411003"}).forms[f"claim-{taken.id}"].submit(status=303)
        found = ines.get("/console/lookup", {"phone": "040 4411003"})
        assert "gerade von jemand anderem angerufen" in found.text

        mine = next_case(ines)
        other = console_world.case(dbsession, "K-001" if case_id_of(mine) != closed.id else "K-002")
        other.state = "ready"
        dbsession.flush()
        ines.get("/console/lookup", {"phone": "030 4411001" if other.ref == "K-001" else "0221 4411002"})
        response = ines.post(f"/console/cases/{other.id}/claim", {"csrf_token": token})
        assert "zuerst Ihren offenen Fall" in response.follow().text

    def test_only_a_case_the_look_up_found_can_be_claimed(self, console_world, ines, dbsession):
        """The claim skips the scheduler and the calling hours: an id typed into a request must
        not open a case (and show its name and number) that no caller's number led to."""
        found, other = console_world.case(dbsession, "K-002"), console_world.case(dbsession, "K-003")
        ines.get("/console/lookup", {"phone": "0221 4411002"})
        response = ines.post(f"/console/cases/{other.id}/claim", {"csrf_token": csrf_token(ines)})
        assert response.location.endswith("/console/lookup")
        assert "über die Suche nach der Nummer" in response.follow().text
        reload(dbsession, other)
        assert other.claimed_by is None
        response = ines.post(f"/console/cases/{found.id}/claim", {"csrf_token": csrf_token(ines)})
        assert response.location.endswith(f"/console/cases/{found.id}")

    def test_invalid_number_is_explained(self, console_world, ines):
        page = ines.get("/console/lookup", {"phone": "abc"}, status=422)
        assert "Keine gültige Telefonnummer" in page.text


class TestStartPage:
    def test_next_case_button_figures_and_open_case(self, console_world, ines, dbsession):
        start = ines.get("/")
        assert start.html.find("form", {"data-next-case": True}) is not None
        assert start.html.find(attrs={"data-stat": "calls"}).text == "0"
        assert 'console.js' in start.text and "Fallbearbeitung" not in start.text
        page = next_case(ines)
        start = ines.get("/")
        assert start.html.find(id="resume-link")["href"].endswith(page.request.path)
        # "Next case" while a case is open goes back to that case instead of claiming another.
        response = ines.post("/console/next", {"csrf_token": csrf_token(ines)})
        assert response.location.endswith(page.request.path)
        outcome(page, "no_answer")
        start = ines.get("/")
        assert start.html.find(id="resume-link") is None
        assert start.html.find(attrs={"data-stat": "calls"}).text == "1"
        assert start.html.find(attrs={"data-stat": "completes"}).text == "0"

    def test_outside_calling_hours_it_says_when_calls_may_start_again(self, console_world, ines, clock):
        clock.advance(hours=12)  # Tuesday 22:00 in Berlin: outside the calling hours (adm: 09-21)
        response = ines.post("/console/next", {"csrf_token": csrf_token(ines)})
        assert response.location == "http://cati.test/"
        notice = response.follow().html.select_one(".notice-error").text
        assert "Außerhalb der Anrufzeiten" in notice and "Mi. 25.11.26, 09:00" in notice

    def test_in_calling_hours_without_a_due_case_it_says_why(self, console_world, ines, clock):
        for _ in range(3):  # every case called once: each waits for its retry now
            outcome(next_case(ines), "no_answer")
        response = ines.post("/console/next", {"csrf_token": csrf_token(ines)})
        assert response.location == "http://cati.test/"
        text = response.follow().text
        assert "Gerade kann kein Fall angerufen werden" in text and "Außerhalb der Anrufzeiten" not in text

    def test_without_a_study_in_field_it_says_so(self, console_world, ines, dbsession):
        for study in (console_world.study, console_world.world.own):  # ines's two studies
            study.status = "paused"
        dbsession.flush()
        response = ines.post("/console/next", {"csrf_token": csrf_token(ines)})
        assert "Keine Ihrer Studien ist im Feld." in response.follow().text

    def test_the_study_s_own_outcome_table_is_what_the_interviewer_codes(self, console_world, ines, dbsession):
        update_settings(dbsession, console_world.study, {
            "outcome.busy.label_de": "Leitung besetzt",
            "outcome.mailbox_full.label_de": "Mailbox voll", "outcome.mailbox_full.label_en": "Mailbox full",
            "outcome.mailbox_full.aapor": "3.14", "outcome.mailbox_full.final": "no",
            "outcome.mailbox_full.default_delay": "180"})
        dbsession.flush()
        page = next_case(ines)
        form_text = page.html.select_one("#outcome-form").text
        assert "Leitung besetzt" in form_text and "Mailbox voll" in form_text and "Besetzt" not in form_text
        case = dbsession.get(Case, case_id_of(page))
        outcome(page, "mailbox_full")
        reload(dbsession, case)
        attempt = dbsession.scalar(select(Attempt).where(Attempt.case_id == case.id))
        assert (attempt.outcome, attempt.aapor, case.state) == ("mailbox_full", "3.14", "ready")
        assert case.order_key - attempt.ended_at.timestamp() >= dt.timedelta(minutes=180).total_seconds() - 1

    def test_other_roles_have_no_console(self, console_world, as_role):
        supervisor = as_role("supervisor")
        assert supervisor.get("/").html.find("form", {"data-next-case": True}) is None
        supervisor.post("/console/next", {"csrf_token": csrf_token(supervisor)}, status=403)
