"""A small world for the web journeys: one user per role, two client organisations, and two
studies, one staffed by our supervisor and interviewer and owned by our client, one not.

Users are inserted with a password hash computed once per run (argon2 is deliberately slow);
the journeys that are about creating users go through the real service.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import webtest

from cati.models import Client, QuestionnaireVersion, Study, StudyMember, User
from cati.services.users import hash_password

PASSWORD = "correct horse 42"
ROLES = ("admin", "researcher", "supervisor", "interviewer", "client")
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


_codes = itertools.count(1)


@cache
def password_hash() -> str:
    return hash_password(PASSWORD)


@dataclass
class World:
    users: dict[str, User]
    own: Study  # client "Acme Mobility"; supervisor and interviewer are members; in field
    other: Study  # client "Other Corp"; nobody assigned; in field
    acme: Client
    other_client: Client


def add_user(session: Any, username: str, role: str, *, client: Client | None = None, display_name: str = "",
             active: bool = True) -> User:
    user = User(username=username, role=role, password_hash=password_hash(), display_name=display_name or
                username.title(), first_name=username.title(), client=client, active=active,
                code=f"T{next(_codes):06d}")
    session.add(user)
    session.flush()
    return user


def add_study(session: Any, slug: str, name: str, client: Client | None, status: str = "field") -> Study:
    study = Study(slug=slug, name=name, client=client, status=status, settings={})
    session.add(study)
    session.flush()
    session.add(QuestionnaireVersion(study=study, questionnaire_id=slug, version=1, title=name,
                                     source="# seeded\n", sha256="ab" * 32))
    session.flush()
    return study


@pytest.fixture
def world(dbsession: Any) -> World:
    acme = Client(name="Acme Mobility")
    other_client = Client(name="Other Corp")
    dbsession.add_all([acme, other_client])
    dbsession.flush()
    users = {
        "admin": add_user(dbsession, "alice", "admin", display_name="Alice Admin"),
        "researcher": add_user(dbsession, "rita", "researcher", display_name="Rita Researcher"),
        "supervisor": add_user(dbsession, "sven", "supervisor", display_name="Sven Supervisor"),
        "interviewer": add_user(dbsession, "ines", "interviewer", display_name="Ines Interviewer"),
        "client": add_user(dbsession, "carla", "client", client=acme, display_name="Carla Client"),
    }
    own = add_study(dbsession, "acme-bikes", "Acme Bike Concept", acme)
    other = add_study(dbsession, "other-secret", "Other Secret Product", other_client)
    for role in ("supervisor", "interviewer"):
        dbsession.add(StudyMember(study_id=own.id, user_id=users[role].id))
    dbsession.flush()
    dbsession.expire(own)
    return World(users=users, own=own, other=other, acme=acme, other_client=other_client)


@pytest.fixture
def browser(testapp: webtest.TestApp) -> Any:
    """``browser()`` opens another client (own cookie jar) on the same app and transaction."""

    def make() -> webtest.TestApp:
        return webtest.TestApp(testapp.app, extra_environ=dict(testapp.extra_environ))

    return make


def login(app: webtest.TestApp, username: str, password: str = PASSWORD, next: str | None = None) -> Any:
    page = app.get("/login" + (f"?{urlencode({'next': next})}" if next else ""))
    form = page.forms["login-form"]
    form["username"] = username
    form["password"] = password
    return form.submit(status="*")


def csrf_token(app: webtest.TestApp) -> str:
    """The session's CSRF token, read from a page like a browser would."""
    page = app.get("/login", status="*")
    if page.status_int in (302, 303):
        page = app.get("/", status=200)
    return page.html.find("input", {"name": "csrf_token"})["value"]


@pytest.fixture
def as_role(world: World, browser: Any) -> Any:
    """``as_role("client")`` is a client logged in as the world's user with that role
    (``"anonymous"`` is not logged in)."""

    def make(role: str) -> webtest.TestApp:
        app = browser()
        if role != "anonymous":
            response = login(app, world.users[role].username)
            assert response.status_int == 303, response.text
        return app

    return make
