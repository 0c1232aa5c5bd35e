"""Interview steps in one request: console.js posts the answer, back and language forms with
``X-Cati-Inline: 1`` and gets the next screen in the response (the page the GET of the case would
render) instead of a redirect to it. Without the header the console stays Post/Redirect/Get.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from cati.models import AuditEvent, Case

from . import test_console_journeys as journeys
from .test_console_journeys import answer, interview_of, next_case, screen_key, start

# The console fixtures, shared with the journeys.
clock, console_world, ines = journeys.clock, journeys.console_world, journeys.ines

INLINE = {"X-Cati-Inline": "1"}


def submit(page: Any, status: int = 200, button: str | None = None, **fields: Any) -> Any:
    """:func:`journeys.answer` (fill the answer form, submit it), sent as console.js sends it."""
    environ = page.test_app.extra_environ
    environ["HTTP_X_CATI_INLINE"] = "1"
    try:
        return answer(page, status, button, **fields)
    finally:
        del environ["HTTP_X_CATI_INLINE"]


def post_back(app: Any, page: Any, status: int = 200) -> Any:
    """The Back button (``formaction``) as console.js sends it."""
    form = page.forms["answer-form"]
    url = page.html.find(id="back-button")["formaction"]
    response = app.post(url, {"csrf_token": form["csrf_token"].value, "revision": form["revision"].value},
                        headers=INLINE, status="*")
    assert response.status_int == status, response.text
    return response


def main_part(page: Any) -> str:
    """The page's content: the header differs by the request (its language switch returns to the
    referring page after a POST)."""
    return str(page.html.find(id="main"))


def step_parts(page: Any) -> list[str]:
    """What a step replaces on the interviewer's page (by id): the progress and the question."""
    return [page.html.find(id=part).decode_contents().strip() for part in ("console-progress", "console-main")]


def revision_of(page: Any) -> int:
    return int(page.forms["answer-form"]["revision"].value)


def answers_stored(session: Any, interview: Any) -> int:
    return session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.action == "interview.answer", AuditEvent.target == f"interview:{interview.id}"))


def case_id_of(page: Any) -> int:
    """The case of a page, whether it was asked for by a GET of the case or a POST of a step."""
    match = re.match(r"/console/cases/(\d+)", page.request.path)
    assert match, page.request.path
    return int(match.group(1))


def location(page: Any) -> str:
    return f"{page.request.host_url}/console/cases/{case_id_of(page)}"


class TestInlineSteps:
    def test_an_answer_returns_the_next_screen_and_stores_one_step(self, console_world, ines, dbsession):
        page = answer(start(next_case(ines)))
        assert screen_key(page) == "Q1"
        case = dbsession.get(Case, case_id_of(page))
        before = interview_of(dbsession, case)
        revision, stored = before.revision, answers_stored(dbsession, before)
        assert revision_of(page) == revision

        response = submit(page, value="1")
        assert response.headers["X-Cati-Location"] == location(page)
        assert response.content_type == "text/html"
        assert screen_key(response) == "Q2" and "Wofür nutzen Sie es?" in response.text
        assert revision_of(response) == revision + 1  # a fresh revision for the next form
        assert response.forms["answer-form"]["csrf_token"].value == page.forms["answer-form"]["csrf_token"].value

        interview = interview_of(dbsession, case)
        assert (interview.revision, answers_stored(dbsession, interview)) == (revision + 1, stored + 1)
        assert interview.state["answers"]["Q1"] == 1
        # Only what changes: no case bar, contact panel or key help (the page keeps those)...
        assert response.html.find(id="console-step")["data-phase"] == "interview"
        assert response.html.find(id="console") is None and "contact-heading" not in response.text
        # ... and it is what the GET of the case renders now in those places.
        again = ines.get(response.headers["X-Cati-Location"])
        assert step_parts(again) == step_parts(response)
        assert again.html.find(id="console")["data-phase"] == "interview" and "contact-heading" in again.text
        assert interview_of(dbsession, case).revision == revision + 1  # reading stores nothing

    def test_without_the_header_the_redirect_remains(self, console_world, ines):
        page = answer(start(next_case(ines)))
        response = page.forms["answer-form"].submit(status="*")  # nothing chosen: refused either way
        assert response.status_int == 422 and "X-Cati-Location" not in response.headers
        form = page.forms["answer-form"]
        form["value"] = "1"
        response = form.submit(status=303)
        assert response.location == location(page) and "X-Cati-Location" not in response.headers
        assert screen_key(response.follow()) == "Q2"

    def test_specials_and_soft_check_confirmation_use_the_button(self, console_world, ines, dbsession):
        page = answer(start(next_case(ines)))
        page = submit(page, button="special")  # DK on Q1: Q2 is skipped
        assert screen_key(page) == "Q3"
        warned = submit(page, status=422, value="300")
        assert warned.html.find(id="console-step") is not None  # the question alone, as for an accepted step
        assert "Mehr als 200 km pro Woche – stimmt das?" in warned.text
        assert warned.headers["X-Cati-Location"] == location(page)
        assert revision_of(warned) == revision_of(page)  # refused: nothing stored
        page = submit(warned, button="confirm")
        assert screen_key(page) == "Q4"
        interview = interview_of(dbsession, dbsession.get(Case, case_id_of(page)))
        assert interview.state["answers"]["Q1"] == "DK" and interview.state["answers"]["Q3"] == 300

    def test_hard_check_is_refused_inline(self, console_world, ines, dbsession):
        page = submit(submit(answer(start(next_case(ines))), value="2"), value="10")
        assert screen_key(page) == "Q4"
        case = dbsession.get(Case, case_id_of(page))
        revision = interview_of(dbsession, case).revision
        refused = submit(page, status=422, value="13")
        assert refused.html.find(id="console-step") is not None and refused.html.find(id="console") is None
        assert "13 ist hier nicht möglich." in refused.text
        assert screen_key(refused) == "Q4" and refused.forms["answer-form"]["value"].value == "13"
        assert revision_of(refused) == revision and interview_of(dbsession, case).revision == revision
        page = submit(refused, value="40")
        assert screen_key(page) == "Q5"

    def test_back_and_language_inline(self, console_world, ines, dbsession):
        page = submit(answer(start(next_case(ines))), value="1")
        assert screen_key(page) == "Q2"
        back = post_back(ines, page)
        assert back.headers["X-Cati-Location"] == location(page)
        assert screen_key(back) == "Q1" and revision_of(back) == revision_of(page) + 1
        assert back.html.find("input", {"name": "value", "value": "1"}).has_attr("checked")

        english = back.forms["interview-language-form"].submit("lang", value="en", headers=INLINE, status=200)
        assert english.headers["X-Cati-Location"] == location(page)
        assert screen_key(english) == "Q1" and "Do you use a bike?" in english.text
        assert revision_of(english) == revision_of(back) + 1
        unknown = english.forms["interview-language-form"]
        unknown["revision"] = str(revision_of(english))
        response = ines.post(unknown.action, {"csrf_token": unknown["csrf_token"].value, "lang": "fr",
                                              "revision": unknown["revision"].value}, headers=INLINE, status=200)
        assert "Den Fragebogen gibt es in dieser Sprache nicht." in response.text  # the message, on the same screen
        assert screen_key(response) == "Q1"
        interview = interview_of(dbsession, dbsession.get(Case, case_id_of(page)))
        assert interview.lang == "en" and interview.state["answers"]["Q1"] == 1

    def test_a_stale_revision_is_refused_as_before(self, console_world, ines, dbsession):
        page = answer(start(next_case(ines)))
        assert screen_key(submit(page, value="1")) == "Q2"
        case = dbsession.get(Case, case_id_of(page))
        before = interview_of(dbsession, case)
        revision, stored = before.revision, answers_stored(dbsession, before)
        # The old screen once more (a second tab): the redirect, after which console.js loads the case.
        current = submit(page, status=303, value="2")
        assert current.request.url == location(page)
        assert "in einem anderen Fenster oder Tab fortgesetzt" in current.text
        assert screen_key(current) == "Q2"
        interview = interview_of(dbsession, case)
        assert (interview.revision, answers_stored(dbsession, interview)) == (revision, stored)
        assert interview.state["answers"]["Q1"] == 1

    def test_a_case_that_is_no_longer_yours_is_refused(self, console_world, ines, dbsession):
        page = answer(start(next_case(ines)))
        case = dbsession.get(Case, case_id_of(page))
        case.state, case.claimed_by = "ready", None  # released (stale-claim release, a supervisor)
        dbsession.flush()
        response = submit(page, status=409, value="1")
        assert "nicht zugeteilt" in response.text
        assert "Q1" not in interview_of(dbsession, case).state["answers"]


    def test_a_grid_refused_for_a_missing_row_puts_the_focus_on_that_row(self, console_world, ines):
        page = start(next_case(ines))
        for fields in ({}, {"value": "1"}, {"value": ["1", "96"], "other_Q2_oth": "Einkaufen"}, {"value": "30"},
                       {"value": "40"}):
            page = submit(page, **fields)
        assert screen_key(page) == "Q5"
        focused = page.html.find("input", autofocus=True)
        assert focused["name"] == "row-1"  # nothing answered yet: the first row
        refused = submit(page, status=422, row_1="1")  # row 2 missing
        focused = refused.html.find("input", autofocus=True)
        assert focused["name"] == "row-2" and focused["value"] == "1"  # its first option: digits answer it


class TestInlineToTheEnd:
    def test_the_whole_interview_inline(self, console_world, ines, dbsession):
        page = start(next_case(ines))
        case = dbsession.get(Case, case_id_of(page))
        steps: list[tuple[dict[str, Any], str]] = [
            ({}, "Q1"), ({"value": "1"}, "Q2"), ({"value": ["1", "96"], "other_Q2_oth": "Einkaufen"}, "Q3"),
            ({"value": "30"}, "Q4"), ({"value": "40"}, "Q5"), ({"row_1": "1", "row_2": "DK"}, "Q6")]
        for fields, following in steps:
            page = submit(page, **fields)
            assert screen_key(page) == following
            assert step_parts(ines.get(location(page))) == step_parts(page)  # the screen a reload shows
        ended = submit(page, value="")
        assert ended.headers["X-Cati-Location"] == location(page)
        assert "Interview abgeschlossen" in ended.text and "Vielen Dank für das Gespräch!" in ended.text
        assert "answer-form" not in ended.forms and "next-form" in ended.forms
        assert ended.html.find(id="console")["data-phase"] == "ended"
        assert main_part(ines.get(location(page))) == main_part(ended)  # what a reload shows

        interview = interview_of(dbsession, case)
        dbsession.refresh(case)
        assert (interview.status, interview.disposition) == ("complete", "COMPLETE")
        assert interview.state["answers"]["Q2_oth"] == "Einkaufen" and interview.state["answers"]["Q5_2"] == "DK"
        assert (case.state, case.outcome, case.claimed_by) == ("final", "complete", None)
        assert answers_stored(dbsession, interview) == 5

    def test_screen_out_inline(self, console_world, ines, dbsession):
        page = submit(submit(submit(answer(start(next_case(ines))), value="2"), value="DK"), value="15")
        assert "Interview beendet" in page.text and "wir befragen nur Erwachsene" in page.text
        case = dbsession.get(Case, case_id_of(page))
        dbsession.flush()
        dbsession.refresh(case)
        assert (case.state, case.outcome) == ("final", "screened_out")
