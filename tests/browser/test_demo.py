"""Issue 4's "done when": a demo interviewer of ``make run`` works through the demo sample in
Chromium. The demo is loaded as ``cati initdb --demo`` loads it; the console's clock stands on a
Sunday night, when only the demo's training study may be called, so the test does not depend on
the hour it runs at."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import chromium, served_app
from .test_console import screen, step

pytestmark = pytest.mark.browser

SUNDAY_NIGHT = dt.datetime(2026, 11, 22, 22, 30, tzinfo=dt.UTC)  # 23:30 in Berlin


@pytest.fixture
def demo_server(browser_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    from cati.demo import load_demo
    from cati.web.views import console as console_views

    monkeypatch.setattr(console_views, "now_utc", lambda: SUNDAY_NIGHT)
    with served_app(browser_db, lambda session: load_demo(session), threads=4) as (url, engine):
        yield {"url": url, "engine": engine}


def answer_by_keyboard(page: Any, tries: int) -> None:
    """One answer of any kind, the way an interviewer types it; ``tries``: how often this question
    was answered before (a number out of range is refused: the next try types a smaller one)."""
    kind, _key = screen(page)
    keyboard = page.keyboard
    if kind == "grid":
        for _row in range(page.locator("table.grid tbody tr").count()):
            keyboard.press("2")
    elif kind == "numeric":
        page.locator("#answer-input").fill("")
        keyboard.type(("35", "2", "0")[min(tries, 2)])
    elif kind == "text":
        keyboard.press("Escape")
    elif kind == "multi":
        keyboard.type("1")
        keyboard.press(" ")
    elif kind in ("single", "nps"):
        keyboard.type(("1", "2", "3")[min(tries, 2)])
    step(page, lambda: keyboard.press("Enter"))


def test_a_demo_interviewer_works_through_cases_of_the_demo_sample(demo_server: dict[str, Any]) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from cati.demo import DEMO_PASSWORD
    from cati.models import Attempt, Interview, Study

    base = demo_server["url"]
    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("response", lambda r: r.status >= 500 and problems.append(f"{r.status} {r.url}"))
        page.goto(f"{base}/login")
        page.get_by_label("Benutzername").fill("anna")
        page.get_by_label("Passwort").fill(DEMO_PASSWORD)
        page.keyboard.press("Enter")
        page.wait_for_url(f"{base}/")
        for _case in range(3):
            with page.expect_navigation():
                page.keyboard.press("n")  # next case (from the start page or an ended interview)
            assert "Schulung" in page.locator(".case-study").inner_text()
            page.keyboard.press("Enter")  # start the interview
            page.wait_for_selector("#answer-form")
            seen = []
            for _answer in range(80):
                if not screen(page)[1]:
                    break  # the interview ended: complete, screened out or quota full
                answer_by_keyboard(page, seen.count(screen(page)))
                seen.append(screen(page))
            else:
                errors = page.locator(".field-error, .notice-error").all_inner_texts()
                pytest.fail(f"an interview of the demo did not end: {seen[-5:]} {errors}")
    assert not problems, problems
    with Session(demo_server["engine"]) as session:
        training = session.scalar(select(Study.id).where(Study.slug == "schulung"))
        ended = session.scalars(select(Interview.status).where(Interview.study_id == training)).all()
        assert len(ended) == 3 and set(ended) <= {"complete", "ended"}, ended
        assert len(session.scalars(select(Attempt).where(Attempt.study_id == training)).all()) == 3
