"""Fixtures for commands that touch the database: an INI pointing at the test database."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"


@pytest.fixture
def ini(tmp_path, settings, clean_database):
    path = tmp_path / "test.ini"
    url = settings["sqlalchemy.url"].replace("%", "%%")
    path.write_text(
        "[app:main]\nuse = egg:cati\n"
        f"sqlalchemy.url = {url}\n"
        f"cati.session_secret = {settings['cati.session_secret']}\n"
    )
    return str(path)


@pytest.fixture
def ebike(tmp_path):
    return shutil.copy(EXAMPLES / "ebike_abo_konzept.yaml", tmp_path / "ebike.yaml")


