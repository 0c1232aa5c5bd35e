"""A real browser against a real server: log in through the form and see the start page.

The app runs under waitress in a background thread on a free port, backed by its own SQLite file
(migrated with alembic, a user committed through the users service), so nothing here shares the
savepoint fixtures. Debian's Chromium is driven through Playwright; without it the test is skipped
on a workstation but fails on CI (``CI`` set), where it must run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import conftest as browser_conftest
from .conftest import chromium, served_app

USERNAME, PASSWORD, DISPLAY_NAME = "rita", "browser-test-42", "Rita Researcher"

pytestmark = pytest.mark.browser


@pytest.fixture
def live_server(browser_db: str) -> Iterator[str]:
    from cati.services.users import create_user

    def seed(session: Any) -> None:
        create_user(session, USERNAME, role="researcher", password=PASSWORD, display_name=DISPLAY_NAME)

    with served_app(browser_db, seed) as (url, _engine):
        yield url


def test_login_in_a_real_browser(live_server: str, tmp_path: Path) -> None:

    problems: list[str] = []
    with chromium() as browser:
        page = browser.new_page()

        def console(message: Any) -> None:
            if message.type == "error":  # CSP violations and failed loads end up here
                problems.append(message.text)

        page.on("console", console)
        page.on("response", lambda r: r.status >= 400 and problems.append(f"{r.status} {r.url}"))
        page.goto(f"{live_server}/studies")
        assert page.url.startswith(f"{live_server}/login?next=")
        page.get_by_label("Benutzername").fill(USERNAME)
        page.get_by_label("Passwort").fill(PASSWORD)
        page.get_by_role("button", name="Anmelden").click()
        page.wait_for_url(f"{live_server}/studies")
        page.get_by_role("link", name="Start").click()
        page.wait_for_url(f"{live_server}/")
        heading = page.get_by_role("heading", level=1)
        assert heading.inner_text() == f"Willkommen, {DISPLAY_NAME}"
        # The stylesheet loaded despite the strict Content-Security-Policy.
        header_colour = page.eval_on_selector(".site-header", "e => getComputedStyle(e).backgroundColor")
        assert header_colour == "rgb(22, 58, 96)"
        page.screenshot(path=str(tmp_path / "start-page.png"), full_page=True)
        # Outside the WebTest fixtures requests run in pyramid_tm's real transactions; static
        # files run in none, so a missing one must not try to render the (user-aware) layout.
        assert page.request.get(f"{live_server}/static/missing.css").status == 404
        assert page.request.get(f"{live_server}/no-such-page").status == 404
    assert (tmp_path / "start-page.png").stat().st_size > 1000
    assert not problems, problems


class TestChromiumRequirement:
    def test_missing_chromium_skips_on_a_workstation(self, monkeypatch, tmp_path):
        monkeypatch.setattr(browser_conftest, "CHROMIUM", tmp_path / "no-chromium")
        monkeypatch.delenv("CI", raising=False)
        with pytest.raises(pytest.skip.Exception):
            browser_conftest.require_chromium()

    def test_missing_chromium_fails_on_ci(self, monkeypatch, tmp_path):
        monkeypatch.setattr(browser_conftest, "CHROMIUM", tmp_path / "no-chromium")
        monkeypatch.setenv("CI", "true")
        with pytest.raises(pytest.fail.Exception, match="CI must run the browser tests"):
            browser_conftest.require_chromium()
