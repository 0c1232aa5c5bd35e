"""The supervisor's dashboard keeps itself current in Chromium: supervisor.js fetches the live
sections every 30 seconds and swaps them in, so a disposition and a quota cell changed in the
database show on the open page without a reload, with the reader's focus, opened tables and scroll
position kept; a failed update says so until the next one succeeds; a hidden tab fetches nothing.

Playwright's clock runs the page's timers when the test says so (no 30-second waits). The app runs
under waitress in a thread, on the test session's database (SQLite or PostgreSQL), with the e-bike
example study.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import chromium, served_app

pytestmark = pytest.mark.browser

USERNAME, PASSWORD = "sina", "browser-test-42"
REFUSALS = '#dashboard-dispositions tbody tr:has(code:text-is("2.111")) td:last-child'
FIRST_CELL_COMPLETES = "#dashboard-quotas tbody tr:first-child td:nth-child(4)"
FAILED = "#dashboard .sv-live-failed"


@pytest.fixture
def dashboard_server(browser_db: str) -> Iterator[dict[str, Any]]:
    from cati.services.studies import assign_member
    from cati.services.users import create_user
    from tests.fieldwork_seed import add_case, make_study

    def seed(session: Any) -> None:
        user = create_user(session, USERNAME, role="supervisor", password=PASSWORD, display_name="Sina Supervisor")
        study = make_study(session, slug="ebike")
        assign_member(session, study, user)
        add_case(session, study, "K-001")
        add_case(session, study, "K-002", state="final", outcome="hard_refusal", aapor="2.111", attempts=1)

    with served_app(browser_db, seed) as (url, engine):
        yield {"url": url, "engine": engine}


def change_fieldwork(engine: Any) -> None:
    """Another interviewer's work, committed: K-001 refused, and 7 completes in the first quota cell."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from cati.models import Case, QuotaCell

    with Session(engine) as session, session.begin():
        case = session.scalar(select(Case).where(Case.ref == "K-001"))
        case.state, case.outcome, case.aapor, case.attempts = "final", "hard_refusal", "2.111", 1
        cell = session.scalars(select(QuotaCell).order_by(QuotaCell.quota_position, QuotaCell.position)).first()
        cell.completes = 7


def test_open_dashboard_follows_the_database(dashboard_server: dict[str, Any]) -> None:
    from playwright.sync_api import expect

    base = dashboard_server["url"]
    problems: list[str] = []
    fetched: list[str] = []
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 500})
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))  # CSP violations too
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("request", lambda r: "/dashboard/live" in r.url and fetched.append(r.url))
        page.clock.install()
        page.goto(f"{base}/login")
        page.get_by_label("Benutzername").fill(USERNAME)
        page.get_by_label("Passwort").fill(PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_url(f"{base}/")
        page.goto(f"{base}/studies/ebike/dashboard")
        expect(page.locator(REFUSALS)).to_have_text("1")
        expect(page.locator(FIRST_CELL_COMPLETES)).to_have_text("0")
        expect(page.locator("#dashboard .sv-live")).to_be_visible()
        expect(page.locator(FAILED)).to_be_hidden()

        # The reader opened a chart's numbers, put the focus on a link and scrolled down.
        page.locator("#chart-classes-title ~ details summary").click()
        page.locator('#dashboard-dispositions a[href$="/reports/dispositions.csv"]').focus()
        page.evaluate("window.scrollTo(0, 400); window.stillTheSamePage = true")
        scrolled = page.evaluate("window.scrollY")
        assert scrolled > 0

        change_fieldwork(dashboard_server["engine"])
        page.clock.fast_forward(30_000)
        expect(page.locator(REFUSALS)).to_have_text("2")
        expect(page.locator(FIRST_CELL_COMPLETES)).to_have_text("7")
        expect(page.locator("#dashboard-kpis [data-figure=final_cases]")).to_have_text("2")
        assert page.evaluate("window.stillTheSamePage") is True  # no reload
        assert page.evaluate("document.activeElement.getAttribute('href')").endswith("/dispositions.csv")
        assert page.evaluate("document.activeElement.closest('#dashboard-dispositions') !== null")
        expect(page.locator("#chart-classes-title ~ details")).to_have_attribute("open", "")
        assert page.evaluate("window.scrollY") == scrolled
        assert fetched == [f"{base}/studies/ebike/dashboard/live?hours=4"]
        assert not problems, problems

        # A failed update says so, calmly; the next successful one clears the notice.
        page.route("**/dashboard/live*", lambda route: route.abort())
        page.clock.fast_forward(30_000)
        expect(page.locator(FAILED)).to_be_visible()
        expect(page.locator(REFUSALS)).to_have_text("2")
        page.unroute("**/dashboard/live*")
        page.clock.fast_forward(30_000)
        expect(page.locator(FAILED)).to_be_hidden()
        assert len(fetched) == 3

        # A hidden tab fetches nothing; shown again, it refreshes at once.
        page.evaluate("""() => {
            Object.defineProperty(document, "hidden", {configurable: true, get: () => window.tabHidden});
            window.tabHidden = true;
            document.dispatchEvent(new Event("visibilitychange"));
        }""")
        page.clock.fast_forward(120_000)
        page.wait_for_timeout(300)
        assert len(fetched) == 3
        with page.expect_request("**/dashboard/live*"):
            page.evaluate("window.tabHidden = false; document.dispatchEvent(new Event('visibilitychange'))")
        assert len(fetched) == 4
