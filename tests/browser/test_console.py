"""One whole interview of an example questionnaire in Chromium, by keyboard only.

console.js sends every step (answers, Back, the interview language) with fetch and shows the next
screen from the response: the test watches the requests to see that each step is one fetch POST
and that no page is loaded (nor the stylesheet and script again) until the interview has ended.

The app runs under waitress in a thread, on its own SQLite file, with the customer-satisfaction
example (``questionnaires/kundendienst_zufriedenheit.yaml``) and its demo sample. The console's
clock is set to a Tuesday morning so that the calling hours are open whenever the test runs.

``CATI_UPDATE_SCREENSHOT=1`` also writes the interview screen to ``docs/console.png`` (the
picture in the README); otherwise it goes to the test's temporary directory.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from .conftest import chromium, served_app

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
QUESTIONNAIRE = ROOT / "questionnaires" / "kundendienst_zufriedenheit.yaml"
SAMPLE = ROOT / "questionnaires" / "samples" / "kundendienst_zufriedenheit.csv"
USERNAME, PASSWORD = "anna", "browser-test-42"
NOW = dt.datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Europe/Berlin")).astimezone(dt.UTC)


@pytest.fixture
def console_server(browser_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from cati.services.sample_import import import_sample
    from cati.services.studies import assign_member, create_study, update_settings
    from cati.services.users import create_user
    from cati.web.views import console as console_views

    monkeypatch.setattr(console_views, "now_utc", lambda: NOW)

    def seed(session: Any) -> None:
        user = create_user(session, USERNAME, role="interviewer", password=PASSWORD, display_name="Anna Berger",
                           first_name="Anna")
        study = create_study(session, source=QUESTIONNAIRE.read_text(encoding="utf-8"), source_name=QUESTIONNAIRE.name,
                             purpose="customer_satisfaction", client="Stadtwerke Nordhafen")
        update_settings(session, study, {"status": "field"})
        assign_member(session, study, user)
        report = import_sample(session, study, SAMPLE, filename=SAMPLE.name)
        assert report.committed, report.lines()

    with served_app(browser_db, seed, threads=4) as (url, engine):
        yield {"url": url, "engine": engine}


def screen(page: Any) -> tuple[str, str]:
    """(type, key) of the question on screen, or ("", "") when there is none."""
    form = page.locator("#answer-form")
    if not form.count():
        return "", ""
    return form.get_attribute("data-type") or "", page.locator("#answer-form input[name=key]").get_attribute("value")


#: What each screen has anew: its question form (a step replaces the question alone), else the
#: whole #console (the end of the interview).
SHOWN = "(document.getElementById('answer-form') || document.getElementById('console'))"
#: The content replaced: that element is not the one remembered before the key was pressed.
NEW_SCREEN = f"() => {{ const shown = {SHOWN}; return shown !== null && shown !== window.catiOld; }}"


def into_an_interview(page: Any, base: str) -> None:
    """Log in, take the next case, start its interview: its first question is on screen."""
    page.goto(f"{base}/login")
    page.get_by_label("Benutzername").fill(USERNAME)
    page.get_by_label("Passwort").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/")
    page.keyboard.press("n")
    page.wait_for_url(f"{base}/console/cases/*")
    page.keyboard.press("Enter")  # start the interview
    page.wait_for_selector("#answer-form")


def step(page: Any, press: Any) -> None:
    """Do ``press()`` and wait until console.js has put the next screen on the page."""
    page.evaluate(f"window.catiOld = {SHOWN}")
    press()
    page.wait_for_function(NEW_SCREEN)


def test_one_interview_by_keyboard_only(console_server: dict[str, Any], tmp_path: Path) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from cati.models import Attempt, Case, Interview

    base = console_server["url"]
    problems: list[str] = []
    shot = ROOT / "docs" / "console.png" if os.environ.get("CATI_UPDATE_SCREENSHOT") else tmp_path / "console.png"
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))
        page.clock.install()  # the clock's timers run when the test says so (below)
        keyboard = page.keyboard

        page.goto(f"{base}/login")
        page.get_by_label("Benutzername").focus()
        keyboard.type(USERNAME)
        keyboard.press("Tab")
        keyboard.type(PASSWORD)
        keyboard.press("Enter")
        page.wait_for_url(f"{base}/")

        keyboard.press("n")  # next case
        page.wait_for_url(f"{base}/console/cases/*")
        assert page.locator(".dial").first.get_attribute("href").startswith("tel:+49")
        assert "Anna vom Institut Feldblick" in page.locator(".intro").inner_text()
        keyboard.press("Enter")  # start the interview (the focused button)
        page.wait_for_selector("#answer-form")
        case_url = page.url
        # The respondent's local time (case bar, contact panel), from the server's clock (10:00
        # in Berlin), kept current by console.js.
        assert page.locator(".local-clock").all_inner_texts() == ["10:00", "10:00"]
        page.evaluate("document.querySelectorAll('.local-clock').forEach(c => { c.textContent = ''; })")
        page.clock.fast_forward(16_000)
        assert page.locator(".local-clock").all_inner_texts() == ["10:00", "10:00"]
        requests: list[tuple[str, str, str]] = []
        page.on("request", lambda r: requests.append((r.method, r.resource_type, urlsplit(r.url).path)))

        # The interview language (buttons, sent with their value) and back again, inline.
        step(page, lambda: page.locator("#interview-language-form button[lang=en]").click())
        assert "Am I speaking with" in page.locator("#q-text").inner_text() and page.url == case_url
        step(page, lambda: page.locator("#interview-language-form button[lang=de]").click())
        assert "Guten Tag, hier ist Anna" in page.locator("#q-text").inner_text()

        seen: list[str] = []
        went_back = False
        for _ in range(30):
            kind, key = screen(page)
            if not key:
                break
            seen.append(key)
            if key == "C1":
                page.screenshot(path=str(shot), full_page=True)
            if kind == "grid":
                rows = page.locator("table.grid tbody tr").count()
                for _row in range(rows):
                    keyboard.press("2")  # answers the highlighted row, moves to the next
                assert page.locator("table.grid input[type=radio]:checked").count() == rows
            elif kind == "nps":
                keyboard.type("9")
            elif kind == "single":
                keyboard.type("2" if key == "C2" else "1")
            elif kind == "multi":
                keyboard.type("1")
                keyboard.press(" ")
            elif kind == "text":
                keyboard.type("Sehr freundliche Beratung" if key == "N2" else "")
                keyboard.press("Escape")  # leave the text field; the keys work again
            elif kind == "numeric":
                keyboard.type("3")
            before = page.url, key
            step(page, lambda: keyboard.press("Enter"))
            assert screen(page)[1] != before[1] or page.locator(".field-error").count() == 0, before
            assert page.url == case_url  # the address bar names the case, not the form's action
            if key == "Z1" and not went_back:  # Backspace: back to Z1 (its answer kept), Enter: on again
                went_back = True
                step(page, lambda: keyboard.press("Backspace"))
                assert screen(page)[1] == "Z1" and page.locator("#opt-1").is_checked()
                step(page, lambda: keyboard.press("Enter"))
        else:
            pytest.fail(f"the interview did not end: {seen}")

        assert seen[:4] == ["Z1", "Z2", "Z3", "N1"] and "C1" in seen and seen[-1] == "X1", seen
        assert "Interview abgeschlossen" in page.locator("h1").inner_text()
        assert "Vielen Dank für Ihre Zeit" in page.locator(".read-out").inner_text()
        # Each step was one fetch POST; no page, stylesheet or script was loaded meanwhile.
        posts = [(kind, path.rsplit("/", 1)[-1]) for method, kind, path in requests if method == "POST"]
        assert posts.count(("fetch", "answer")) == len(seen) + 1, posts  # + Z1 once more
        assert posts.count(("fetch", "language")) == 2 and posts.count(("fetch", "back")) == 1, posts
        assert {kind for kind, _action in posts} == {"fetch"}, posts
        assert [r for r in requests if r[1] in ("document", "stylesheet", "script")] == [], requests
        finished = page.url
        with page.expect_navigation():
            keyboard.press("n")  # straight on to the next case
        assert page.url != finished and page.locator("#start-form").count() == 1
    assert not problems, problems
    assert shot.stat().st_size > 10_000

    with Session(console_server["engine"]) as session:
        interview = session.scalar(select(Interview).where(Interview.status == "complete"))
        assert interview is not None and interview.state["answers"]["N1"] == 9
        assert interview.state["answers"]["N2"] == "Sehr freundliche Beratung"
        case = session.get(Case, interview.case_id)
        assert (case.state, case.outcome) == ("final", "complete")
        assert session.scalar(select(Attempt.outcome).where(Attempt.case_id == case.id)) == "complete"


def test_a_case_taken_away_mid_interview_is_said_so_once(console_server: dict[str, Any]) -> None:
    # The supervisor released the case (or its claim went stale) while the interviewer was in the
    # interview: the next answer is refused (409, nothing stored) and the case screen says why,
    # without the answer being sent a second time.
    from sqlalchemy import update
    from sqlalchemy.orm import Session

    from cati.models import Case

    base = console_server["url"]
    with chromium() as browser:
        page = browser.new_page()
        into_an_interview(page, base)
        with Session(console_server["engine"]) as session, session.begin():
            session.execute(update(Case).where(Case.state == "claimed").values(state="ready", claimed_by=None))
        posts: list[str] = []
        page.on("request", lambda r: r.method == "POST" and posts.append(urlsplit(r.url).path))
        with page.expect_navigation():
            page.keyboard.press("1")
            page.keyboard.press("Enter")
        page.wait_for_load_state()
        assert "nicht zugeteilt" in page.locator("main").inner_text()
        assert [path.rsplit("/", 1)[-1] for path in posts] == ["answer"]


def test_the_no_connection_banner_goes_once_the_server_answers_again(console_server: dict[str, Any]) -> None:
    # The heartbeat failed (the line dropped) and the banner came up; the interviewer went on
    # answering (steps replace the question, not the page): the next heartbeat that gets through
    # takes the banner away, and a second failure does not stack a second one.

    base = console_server["url"]
    banner = ".connection-banner"
    with chromium() as browser:
        page = browser.new_page()
        page.clock.install()
        into_an_interview(page, base)

        page.route("**/heartbeat", lambda route: route.abort())
        page.clock.fast_forward(61_000)
        page.wait_for_selector(banner)
        assert screen(page)[1] == "Z1"
        step(page, lambda: (page.keyboard.press("1"), page.keyboard.press("Enter")))
        assert screen(page)[1] == "Z2" and page.locator(banner).count() == 1
        page.clock.fast_forward(61_000)  # still failing: still one banner
        page.wait_for_timeout(200)
        assert page.locator(banner).count() == 1

        page.unroute("**/heartbeat")
        page.clock.fast_forward(61_000)
        page.wait_for_selector(banner, state="detached")


def test_the_same_case_in_a_second_window_is_refused_until_taken_over(console_server: dict[str, Any]) -> None:
    # The interviewer opens the case they are on in a second tab (a bookmark, "Next case" in
    # another window): the second tab says so and takes no keys and no clicks; "Continue here"
    # moves the case to it (reloaded, at the question the first one had reached) and locks the
    # first one. Nothing is posted from a locked window.

    base = console_server["url"]
    lock = ".window-lock"
    with chromium() as browser:
        context = browser.new_context()
        first = context.new_page()
        into_an_interview(first, base)
        step(first, lambda: (first.keyboard.press("1"), first.keyboard.press("Enter")))
        assert screen(first)[1] == "Z2"
        second = context.new_page()
        posts: list[str] = []
        second.on("request", lambda r: r.method == "POST" and posts.append(urlsplit(r.url).path))
        second.goto(first.url)
        second.wait_for_selector(lock)
        assert "in einem anderen Fenster" in second.locator(lock).inner_text()
        second.keyboard.press("1")
        second.keyboard.press("Enter")  # a habitual Enter neither answers nor takes the case over
        second.wait_for_timeout(300)
        assert not [p for p in posts if not p.endswith("/heartbeat")], posts  # nothing sent
        assert second.locator(lock).count() == 1
        assert first.locator(lock).count() == 0

        with second.expect_navigation():
            second.get_by_role("button", name="Hier weiterarbeiten").click()
        second.wait_for_selector("#answer-form")
        assert second.locator(lock).count() == 0 and screen(second)[1] == "Z2"
        first.wait_for_selector(lock)
        first.keyboard.press("2")
        first.keyboard.press("Enter")
        first.wait_for_timeout(300)
        assert screen(first)[1] == "Z2"  # the locked first window sent nothing
        step(second, lambda: (second.keyboard.press("1"), second.keyboard.press("Enter")))
        assert screen(second)[1] == "Z3"


def test_refused_and_outcome_keys(console_server: dict[str, Any]) -> None:
    # R gives "refused" (D "don't know") without the mouse; O opens the call outcomes, digits
    # choose one (10: soft refusal), Enter asks for the note it needs, Ctrl+Enter saves it.
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from cati.models import Attempt, Interview

    base = console_server["url"]
    with chromium() as browser:
        page = browser.new_page()
        into_an_interview(page, base)
        for _question in ("Z1", "Z2", "Z3"):
            step(page, lambda: (page.keyboard.press("1"), page.keyboard.press("Enter")))
        assert screen(page) == ("nps", "N1")
        step(page, lambda: page.keyboard.press("r"))
        assert screen(page)[1] != "N1"
        with page.expect_navigation():
            page.keyboard.press("o")  # during an interview the outcome has its own page
        page.keyboard.press("Escape")  # ... and Escape goes back to the interview
        page.wait_for_selector("#answer-form")
        with page.expect_navigation():
            page.keyboard.press("o")
        page.keyboard.type("10")
        assert page.locator("input[name=outcome]:checked").get_attribute("value") == "soft_refusal"
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.id") == "outcome-note"  # the note it needs
        page.keyboard.type("Heute keine Zeit")
        with page.expect_navigation():
            page.keyboard.press("Control+Enter")
    with Session(console_server["engine"]) as session:
        interview = session.scalar(select(Interview))
        assert interview.state["answers"]["N1"] == "REF"
        attempt = session.scalar(select(Attempt).where(Attempt.case_id == interview.case_id))
        assert (attempt.outcome, attempt.note) == ("soft_refusal", "Heute keine Zeit")
