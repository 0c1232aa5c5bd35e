"""Interviewer console journeys through the real forms: next case, interview, outcomes, resume.

The console asks :func:`cati.web.views.console.now_utc` for the time; the ``clock`` fixture sets
it to a Tuesday morning in Berlin (inside the ADM calling hours) and moves it on, so that calling
windows, retries and appointments behave the same whenever the tests run.

The fixtures here are imported by the other ``test_console_*`` modules.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from cati.models import Attempt, AuditEvent, Case, Interview, StudyMember
from cati.services.sample_import import import_sample
from cati.services.studies import create_study, update_settings
from cati.web.views import console as console_views

from .conftest import add_user, login

BERLIN = ZoneInfo("Europe/Berlin")
START = dt.datetime(2026, 11, 24, 10, 0, tzinfo=BERLIN).astimezone(dt.UTC)  # a Tuesday

QUESTIONNAIRE = """\
format: cati/1
id: konsole_test
version: 1
title: {de: "Konsole Testfragebogen", en: "Console test questionnaire"}
languages: [de, en]
dispositions:
  COMPLETE: 1
  SO_AGE: {code: 21, aapor: "4.70"}
flow:
  - info: intro
    text: {de: "Guten Tag, mein Name ist {$interviewer} vom Institut Feldblick.",
           en: "Hello, my name is {$interviewer} from Feldblick."}
    instruction: {de: "INT: Freundlich bleiben.", en: "INT: Stay friendly."}
  - id: Q1
    type: single
    label: {de: "Q1 Fahrrad", en: "Q1 Bike"}
    text: {de: "Nutzen Sie ein Fahrrad?", en: "Do you use a bike?"}
    special: [DK, REF]
    options:
      - {code: 1, de: "ja", en: "yes"}
      - {code: 2, de: "nein", en: "no"}
  - id: Q2
    type: multi
    show_if: "Q1 == 1"
    label: {de: "Q2 Zweck", en: "Q2 Purpose"}
    text: {de: "Wofür nutzen Sie es?", en: "What do you use it for?"}
    options:
      - {code: 1, de: "Arbeit", en: "work"}
      - {code: 2, de: "Freizeit", en: "leisure"}
      - {code: 96, de: "anderes", en: "other", other: {id: Q2_oth, max_length: 80}}
      - {code: 99, de: "nichts davon", en: "none of these", exclusive: true}
  - id: Q3
    type: numeric
    min: 0
    max: 500
    unit: {de: "km", en: "km"}
    label: {de: "Q3 Kilometer", en: "Q3 Kilometres"}
    text: {de: "Wie viele Kilometer fahren Sie pro Woche?", en: "How many kilometres do you ride a week?"}
    special: [DK]
    checks:
      - assert: "Q3 <= 200"
        severity: soft
        message: {de: "Mehr als 200 km pro Woche – stimmt das?", en: "More than 200 km a week – is that right?"}
  - id: Q4
    type: numeric
    min: 0
    max: 120
    label: {de: "Q4 Alter", en: "Q4 Age"}
    text: {de: "Wie alt sind Sie?", en: "How old are you?"}
    checks:
      - {assert: "Q4 != 13", severity: hard,
         message: {de: "13 ist hier nicht möglich.", en: "13 is not possible here."}}
  - end: SO_AGE
    if: "Q4 < 18"
    text: {de: "Vielen Dank, wir befragen nur Erwachsene.", en: "Thank you, we only interview adults."}
  - id: Q5
    type: grid
    label: {de: "Q5 Bewertung", en: "Q5 Rating"}
    text: {de: "Wie beurteilen Sie …", en: "How do you rate …"}
    special: [DK]
    rows:
      - {code: 1, de: "den Preis", en: "the price"}
      - {code: 2, de: "die Qualität", en: "the quality"}
    options:
      - {code: 1, de: "gut", en: "good"}
      - {code: 2, de: "mittel", en: "average"}
      - {code: 3, de: "schlecht", en: "poor"}
  - id: Q6
    type: text
    required: false
    label: {de: "Q6 Anmerkungen", en: "Q6 Remarks"}
    text: {de: "Möchten Sie noch etwas anmerken?", en: "Anything else?"}
  - end: COMPLETE
    text: {de: "Vielen Dank für das Gespräch!", en: "Thank you for the interview!"}
"""

SAMPLE = """\
id,phone,name,state,postcode,person_type,customer,consent_at,consent_source,language
K-001,030 4411001,Erika Muster,BE,10437,private,no,,,de
K-002,0221 4411002,Max Beispiel,NW,50667,private,no,,,de
K-003,040 4411003,Jana Probe,HH,20095,private,no,,,de
"""


class Clock:
    def __init__(self, start: dt.datetime) -> None:
        self.now = start

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now

    def set_local(self, moment: dt.datetime) -> None:
        self.now = moment.astimezone(dt.UTC)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock(START)
    monkeypatch.setattr(console_views, "now_utc", clock)
    return clock


@dataclass
class ConsoleWorld:
    study: Any
    interviewer: Any  # the world's "ines", assigned
    colleague: Any  # "bert", a second interviewer of the study
    world: Any

    def case(self, session: Any, ref: str) -> Case:
        return session.scalar(select(Case).where(Case.study_id == self.study.id, Case.ref == ref))


@pytest.fixture
def console_world(world: Any, dbsession: Any, clock: Clock) -> ConsoleWorld:
    study = create_study(dbsession, source=QUESTIONNAIRE, source_name="konsole.yaml", purpose="research")
    update_settings(dbsession, study, {"status": "field"})
    interviewer = world.users["interviewer"]
    colleague = add_user(dbsession, "bert", "interviewer", display_name="Bert Kollege")
    for user in (interviewer, colleague, world.users["supervisor"]):
        dbsession.add(StudyMember(study_id=study.id, user_id=user.id))
    dbsession.flush()
    report = import_sample(dbsession, study, SAMPLE.encode(), filename="sample.csv")
    assert report.imported == 3, report.lines()
    dbsession.expire(study)
    return ConsoleWorld(study, interviewer, colleague, world)


def interviewer_app(browser: Any, username: str = "ines") -> Any:
    app = browser()
    assert login(app, username).status_int == 303
    return app


@pytest.fixture
def ines(console_world: ConsoleWorld, browser: Any) -> Any:
    return interviewer_app(browser)


# --------------------------------------------------------------------------- helpers


def next_case(app: Any) -> Any:
    """Press "Next case" on the start page; the case screen."""
    response = app.get("/").forms["next-form"].submit()
    assert response.status_int == 303, response.text
    return response.follow()


def start(page: Any) -> Any:
    response = page.forms["start-form"].submit()
    assert response.status_int == 303
    return response.follow()


def answer(page: Any, status: int = 303, button: str | None = None, **fields: Any) -> Any:
    """Fill the answer form and submit it; the next page (after the redirect) or the refusal."""
    form = page.forms["answer-form"]
    for name, value in fields.items():
        name = name.replace("_", "-", 1) if name.startswith(("row_", "other_")) else name
        if name == "value" and isinstance(value, list):
            for field in form.fields["value"]:
                field.checked = field._value in value
        else:
            form[name] = value
    response = form.submit(button, status="*") if button else form.submit(status="*")
    assert response.status_int == status, response.text
    return response.follow() if status == 303 else response


def screen_key(page: Any) -> str:
    form = page.forms.get("answer-form")
    return form["key"].value if form is not None else ""


def go_back(app: Any, page: Any) -> Any:
    """The Back button (``formaction``, which WebTest does not follow): the same POST by hand."""
    form = page.forms["answer-form"]
    url = page.html.find(id="back-button")["formaction"]
    response = app.post(url, {"csrf_token": form["csrf_token"].value, "revision": form["revision"].value})
    assert response.status_int == 303
    return response.follow()


def outcome_page(page: Any) -> Any:
    """The page with the outcome form: the case screen before the interview, else its own page."""
    if "outcome-form" in page.forms:
        return page
    return page.click(linkid="outcome-link")


def outcome(page: Any, code: str, status: int = 303, then: str = "home", **fields: str) -> Any:
    form = outcome_page(page).forms["outcome-form"]
    form["outcome"] = code
    for name, value in fields.items():
        form[name] = value
    response = form.submit("then", value=then, status="*")
    assert response.status_int == status, response.text
    return response


def interview_of(session: Any, case: Case) -> Interview:
    # The requests share this session and are never committed (the test's transaction is rolled
    # back), so their last changes may still wait for a flush: flush before re-reading.
    session.flush()
    session.expire_all()
    return session.scalar(select(Interview).where(Interview.case_id == case.id))


def reload(session: Any, obj: Any) -> None:
    session.flush()
    session.refresh(obj)


def case_id_of(page: Any) -> int:
    return int(page.request.path.rstrip("/").split("/")[-1])


# --------------------------------------------------------------------------- journeys


class TestCompleteInterview:
    def test_next_case_full_interview_complete(self, console_world, ines, dbsession):
        page = next_case(ines)
        assert "Erika Muster" in page.text or "Max Beispiel" in page.text or "Jana Probe" in page.text
        assert 'href="tel:+49' in page.text
        assert "Guten Tag, mein Name ist Ines vom Institut Feldblick." in page.text  # the introduction
        assert "Ortszeit" in page.text
        case = dbsession.get(Case, case_id_of(page))
        assert (case.state, case.claimed_by) == ("claimed", console_world.interviewer.id)

        page = start(page)
        assert screen_key(page) == "intro" and "Freundlich bleiben" in page.text
        page = answer(page)
        assert screen_key(page) == "Q1"
        assert page.html.find("button", {"data-special": "DK"}) is not None
        page = answer(page, value="1")
        assert screen_key(page) == "Q2"
        page = answer(page, value=["1", "96"], other_Q2_oth="Einkaufen")
        assert screen_key(page) == "Q3"
        page = answer(page, value="30")
        page = answer(page, value="40")
        assert screen_key(page) == "Q5" and page.html.find("table", class_="grid") is not None
        page = answer(page, row_1="1", row_2="DK")
        assert screen_key(page) == "Q6"
        page = answer(page, value="")
        assert "Interview abgeschlossen" in page.text
        assert "Vielen Dank für das Gespräch!" in page.text
        assert "Vollständiges Interview" in page.text
        assert page.forms["next-form"] is not None

        interview = interview_of(dbsession, case)
        reload(dbsession, case)
        assert (interview.status, interview.disposition) == ("complete", "COMPLETE")
        assert interview.state["answers"]["Q2"] == [1, 96] and interview.state["answers"]["Q2_oth"] == "Einkaufen"
        assert interview.state["answers"]["Q5_2"] == "DK"
        assert (case.state, case.outcome, case.aapor, case.claimed_by) == ("final", "complete", "1.1", None)
        attempt = dbsession.scalar(select(Attempt).where(Attempt.case_id == case.id))
        assert (attempt.outcome, attempt.user_id) == ("complete", console_world.interviewer.id)
        actions = [e.action for e in dbsession.scalars(select(AuditEvent).where(
            AuditEvent.study_id == console_world.study.id))]
        assert actions.count("interview.answer") == 5 and "case.outcome" in actions and "interview.end" in actions

        # The figures on the start page count the call and the complete.
        start_page = ines.get("/")
        assert start_page.html.find(attrs={"data-stat": "calls"}).text == "1"
        assert start_page.html.find(attrs={"data-stat": "completes"}).text == "1"

    def test_screen_out_shows_the_end_text(self, console_world, ines, dbsession):
        page = start(next_case(ines))
        page = answer(answer(answer(answer(page), value="2"), value="DK"), value="15")
        assert "Interview beendet" in page.text and "wir befragen nur Erwachsene" in page.text
        case = dbsession.get(Case, case_id_of(page))
        reload(dbsession, case)
        assert (case.state, case.outcome) == ("final", "screened_out")

    def test_reload_resumes_at_the_same_question(self, console_world, ines, browser):
        page = start(next_case(ines))
        page = answer(answer(page), value="1")
        again = ines.get(page.request.path)
        assert screen_key(again) == "Q2"
        # Dropping the session (a browser crash) and logging in again finds the open case.
        fresh = interviewer_app(browser)
        start_page = fresh.get("/")
        link = start_page.html.find(id="resume-link")["href"]
        assert screen_key(fresh.get(link)) == "Q2"

    def test_specials_are_buttons_and_language_switch(self, console_world, ines, dbsession):
        page = answer(start(next_case(ines)))
        assert "weiß nicht" in page.html.find("button", {"data-special": "DK"}).text
        page = page.forms["interview-language-form"].submit("lang", value="en").follow()
        assert "Do you use a bike?" in page.text
        form = page.forms["answer-form"]
        response = form.submit("special", index=1)  # REF
        page = response.follow()
        assert screen_key(page) == "Q3"  # Q2 is skipped: Q1 is not "yes"
        interview = interview_of(dbsession, dbsession.get(Case, case_id_of(page)))
        assert interview.state["answers"]["Q1"] == "REF" and interview.lang == "en"


class TestOutcomes:
    def test_no_answer(self, console_world, ines, dbsession, clock):
        page = next_case(ines)
        case = dbsession.get(Case, case_id_of(page))
        form = page.forms["outcome-form"]
        codes = [value for value, _checked, _text in form["outcome"].options]
        assert "no_answer" in codes and "complete" not in codes and "break_off" not in codes
        response = outcome(page, "no_answer")
        assert response.location.endswith("/")
        home = response.follow()
        assert "Keine Antwort" in home.text and "gespeichert" in home.text
        reload(dbsession, case)
        assert (case.state, case.tier, case.claimed_by, case.outcome) == ("ready", 1, None, "no_answer")
        assert case.next_call_at > clock.now
        assert interview_of(dbsession, case) is None  # nobody answered: no interview was started

    def test_save_and_next_case_delivers_another(self, console_world, ines, dbsession):
        page = next_case(ines)
        first = case_id_of(page)
        response = outcome(page, "busy", then="next")
        assert case_id_of(response.follow()) not in (first, None)

    def test_note_required_and_nothing_changes_without_it(self, console_world, ines, dbsession):
        page = next_case(ines)
        case = dbsession.get(Case, case_id_of(page))
        refused = outcome(page, "hard_refusal", status=422)
        assert "braucht eine Notiz" in refused.text
        reload(dbsession, case)
        assert (case.state, case.attempts) == ("claimed", 0)
        outcome(refused, "hard_refusal", note="will nicht")
        reload(dbsession, case)
        assert (case.state, case.outcome, case.aapor) == ("final", "hard_refusal", "2.11")

    def test_do_not_call_adds_the_number(self, console_world, ines, dbsession):
        from cati.services import dnc

        page = next_case(ines)
        case = dbsession.get(Case, case_id_of(page))
        number = page.html.find("a", class_="tel")["href"].removeprefix("tel:")
        outcome(page, "do_not_call")
        assert dnc.is_blocked(dbsession, number, salt="cati-dnc")
        reload(dbsession, case)
        assert (case.state, case.block_kind) == ("final", "dnc")

    def test_appointment_then_resume_by_the_same_interviewer(self, console_world, ines, browser, dbsession, clock):
        page = start(next_case(ines))
        case = dbsession.get(Case, case_id_of(page))
        page = answer(answer(page), value="1")
        assert screen_key(page) == "Q2"
        tomorrow = (clock.now.astimezone(BERLIN) + dt.timedelta(days=1)).date()
        refused = outcome(page, "appointment_hard", status=422, appointment_date=tomorrow.isoformat(),
                          appointment_time="22:30")
        assert "Termin ist nicht möglich" in refused.text and "calling hours" in refused.text
        outcome(refused, "appointment_hard", appointment_date=tomorrow.isoformat(), appointment_time="18:00",
                note="ab 18 Uhr")
        reload(dbsession, case)
        assert (case.state, case.tier, case.reserved_for) == ("ready", 0, console_world.interviewer.id)
        assert case.next_call_at == dt.datetime.combine(tomorrow, dt.time(18), BERLIN).astimezone(dt.UTC)
        assert interview_of(dbsession, case).status == "broken_off"

        clock.set_local(dt.datetime.combine(tomorrow, dt.time(18, 1), BERLIN))
        bert = interviewer_app(browser, "bert")
        other = next_case(bert)
        assert case_id_of(other) != case.id  # a hard appointment waits for its interviewer

        page = next_case(ines)
        assert case_id_of(page) == case.id
        assert "Fester Termin" in page.text or "fest" in page.text
        assert "ab 18 Uhr" in page.text  # the note in the history
        page = start(page)
        assert screen_key(page) == "Q2"
        assert interview_of(dbsession, case).state["answers"]["Q1"] == 1

    def test_break_off_then_resume(self, console_world, ines, dbsession, clock):
        page = start(next_case(ines))
        case = dbsession.get(Case, case_id_of(page))
        page = answer(answer(answer(page), value="2"), value="25")
        assert screen_key(page) == "Q4"
        assert "break_off" in [value for value, _c, _t in outcome_page(page).forms["outcome-form"]["outcome"].options]
        refused = outcome(page, "break_off", status=422)
        assert interview_of(dbsession, case).status == "active"  # refused: nothing changed
        outcome(refused, "break_off", note="Akku leer")
        reload(dbsession, case)
        assert (case.state, case.outcome) == ("ready", "break_off")
        assert interview_of(dbsession, case).status == "broken_off"

        clock.advance(hours=2)
        page = next_case(ines)
        assert case_id_of(page) == case.id
        assert "wurde unterbrochen" in page.text and "Akku leer" in page.text
        page = start(page)
        assert screen_key(page) == "Q4"
        page = answer(page, value="30")
        assert screen_key(page) == "Q5"


class TestInterviewScreen:
    def test_back_navigation_that_changes_the_route(self, console_world, ines, dbsession):
        page = start(next_case(ines))
        page = answer(answer(page), value="1")
        assert screen_key(page) == "Q2"
        page = go_back(ines, page)
        assert screen_key(page) == "Q1"
        assert page.html.find("input", {"name": "value", "value": "1"}).has_attr("checked")
        page = answer(page, value="2")
        assert screen_key(page) == "Q3"  # Q2 is off the route now
        interview = interview_of(dbsession, dbsession.get(Case, case_id_of(page)))
        assert interview.state["answers"]["Q1"] == 2
        change = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "interview.answer")
                                   .order_by(AuditEvent.id.desc())).first()
        assert change.details == {"key": "Q1", "changes": {"Q1": [1, 2]}}

    def test_soft_check_confirm(self, console_world, ines, dbsession):
        page = answer(answer(start(next_case(ines))), value="2")
        assert screen_key(page) == "Q3"
        warned = answer(page, status=422, value="300")
        assert "Mehr als 200 km pro Woche – stimmt das?" in warned.text
        assert warned.html.find(id="next-button")["name"] == "confirm"
        assert screen_key(warned) == "Q3" and warned.forms["answer-form"]["value"].value == "300"
        page = warned.forms["answer-form"].submit("confirm").follow()
        assert screen_key(page) == "Q4"
        interview = interview_of(dbsession, dbsession.get(Case, case_id_of(page)))
        assert interview.state["answers"]["Q3"] == 300
        assert [(s["key"], s["check"]) for s in interview.state["soft"]] == [("Q3", 0)]

    def test_hard_check_refusal(self, console_world, ines, dbsession):
        page = answer(answer(answer(start(next_case(ines))), value="2"), value="10")
        assert screen_key(page) == "Q4"
        case = dbsession.get(Case, case_id_of(page))
        revision = interview_of(dbsession, case).revision
        refused = answer(page, status=422, value="150")
        error = refused.html.find("p", class_="field-error")
        assert "höchstens 120" in error.text
        assert error.find_parent(class_="answer-field") is not None  # next to the field
        refused = answer(refused, status=422, value="13")
        assert "13 ist hier nicht möglich." in refused.text
        assert interview_of(dbsession, case).revision == revision  # refusals store nothing
        page = answer(refused, value="40")
        assert screen_key(page) == "Q5"

    def test_grid_needs_every_row(self, console_world, ines):
        page = answer(answer(answer(answer(start(next_case(ines))), value="2"), value="10"), value="30")
        assert screen_key(page) == "Q5"
        refused = answer(page, status=422, row_1="2")
        assert refused.html.find("tr", class_="row-invalid") is not None
        assert refused.forms["answer-form"]["row-1"].value == "2"
