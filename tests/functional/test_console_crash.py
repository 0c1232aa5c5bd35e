"""No acknowledged answer is lost when the server process dies: interviewers answer over HTTP
(as console.js does, one request per answer) while the app's process is killed with SIGKILL at
an arbitrary moment, several times; after each restart the database holds every answer whose
next screen reached an interviewer, each with its audit event, nothing half-written, and the
interviews go on from where they stopped.

The app runs under waitress in a child process on the test database (SQLite or PostgreSQL, as
the whole suite), so the kill is a real crash: no ``finally``, no rollback by the app, an open
transaction (on SQLite perhaps half of a WAL commit) left to the database's recovery.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import transaction
from sqlalchemy import func, select

from cati.db import get_session_factory, get_tm_session
from cati.models import AuditEvent, Interview
from tests.console_seed import interviewers_on_cases

PASSWORD = "absturz-test-2026"  # a test account
INTERVIEWERS = 6
QUESTIONS = 400
SERVER = """
import sys
from waitress.server import create_server
from cati import main
app = main({}, **{"sqlalchemy.url": sys.argv[1], "cati.session_secret": sys.argv[2],
                  "pyramid.default_locale_name": "de", "cati.gc_freeze": "false"})
server = create_server(app, host="127.0.0.1", port=int(sys.argv[3]), threads=4)
print(server.effective_port, flush=True)
server.run()
"""
FIELD = re.compile(r'name="(csrf_token|key|revision)" value="([^"]+)"')
COOKIE = re.compile(r"^(cati_session=[^;]*)")


def questionnaire() -> str:
    lines = ["format: cati/1", "id: crash_test", "version: 1", 'title: {de: "Absturztest"}', "languages: [de]",
             "dispositions: {COMPLETE: 1}", "lists:", "  skala:",
             *(f'    - {{code: {c}, de: "Stufe {c}"}}' for c in range(1, 6)), "flow:"]
    for n in range(1, QUESTIONS + 1):
        lines += [f"  - id: Q{n:03d}", "    type: single", "    list: skala", f'    text: {{de: "Frage {n}"}}']
    lines += ["  - end: COMPLETE", '    text: {de: "Danke!"}']
    return "\n".join(lines) + "\n"


def value_for(interviewer: int, key: str) -> int:
    """Each interviewer gives each question its own code, so a misplaced answer shows."""
    return (int(key[1:]) + interviewer) % 5 + 1


def seed(engine: Any) -> list[tuple[str, int]]:
    """A study in field, interviewers each holding a case with an open interview: (name, case id)."""
    manager = transaction.TransactionManager(explicit=True)
    with manager:
        session = get_tm_session(get_session_factory(engine), manager)
        pairs = interviewers_on_cases(session, questionnaire(), [f"crash{i}" for i in range(INTERVIEWERS)], PASSWORD)
        return [(user.username, case.id) for user, case in pairs]


class AppProcess:
    """The app under waitress in a child process that can be killed and started again."""

    def __init__(self, url: str) -> None:
        self.url, self.secret, self.port = url, secrets.token_hex(32), 0
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-c", SERVER, self.url, self.secret, str(self.port)],
                                        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
        line = self.process.stdout.readline()
        assert line.strip().isdigit(), f"the app did not start: {line!r}"
        self.port = int(line)

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self.process.stdout.close()


class Interviewer:
    """One interviewer's browser with console.js: every answer one POST whose response is the next
    question. ``acknowledged``: the answers whose next screen arrived (what the interviewer saw)."""

    def __init__(self, number: int, username: str, case_id: int) -> None:
        self.number, self.username, self.case_path = number, username, f"/console/cases/{case_id}"
        self.cookie, self.fields = "", {}
        self.acknowledged: dict[str, int] = {}
        self.last_revision = 0
        self.connection: http.client.HTTPConnection | None = None

    def request(self, port: int, method: str, path: str, body: dict[str, str] | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, str]:
        if self.connection is None or self.connection.port != port:
            self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        sent = {"Cookie": self.cookie, **(headers or {})} if self.cookie else dict(headers or {})
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            self.connection.request(method, path, body=urlencode(body) if body is not None else None, headers=sent)
            response = self.connection.getresponse()
            text = response.read().decode("utf-8")
        except (OSError, http.client.HTTPException):
            self.connection.close()
            self.connection = None
            raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and (match := COOKIE.match(value)):
                self.cookie = match.group(1)
        return response.status, text

    def login(self, port: int) -> None:
        status, page = self.request(port, "GET", "/login")
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        status, _ = self.request(port, "POST", "/login", {"csrf_token": token, "username": self.username,
                                                          "password": PASSWORD, "next": "/"})
        assert status == 303, status

    def read(self, page: str) -> None:
        fields = dict(FIELD.findall(page.split('id="answer-form"', 1)[1]))
        self.fields = {**fields, "type": "single", "value": str(value_for(self.number, fields["key"]))}
        self.last_revision = int(fields["revision"])

    def open_case(self, port: int) -> str:
        status, page = self.request(port, "GET", self.case_path)
        assert status == 200, (status, page[:500])
        self.read(page)
        return self.fields["key"]

    def work(self, port: int, stop: threading.Event) -> None:
        """Answer until the server is gone (or ``stop``)."""
        while not stop.is_set():
            key, value = self.fields["key"], int(self.fields["value"])
            try:
                status, page = self.request(port, "POST", f"{self.case_path}/answer", self.fields,
                                            {"X-Cati-Inline": "1"})
            except (OSError, http.client.HTTPException):
                return  # the server died: this answer may or may not have been stored
            assert status == 200, (status, page[:500])
            self.acknowledged[key] = value
            self.read(page)


@pytest.fixture
def app_process(db_url: str, clean_database: Any) -> Iterator[AppProcess]:
    process = AppProcess(db_url)
    yield process
    if process.process is not None and process.process.poll() is None:
        process.kill()


def stored(engine: Any, case_id: int) -> tuple[Interview, int]:
    """The interview of a case as the database has it now, and its ``interview.answer`` events."""
    with get_session_factory(engine)() as session:
        interview = session.scalar(select(Interview).where(Interview.case_id == case_id))
        session.expunge(interview)
        events = session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == "interview.answer", AuditEvent.target == f"interview:{interview.id}"))
        return interview, events


@pytest.mark.parametrize("crashes", [3])
def test_killing_the_server_loses_no_acknowledged_answer(engine: Any, app_process: AppProcess, crashes: int) -> None:
    interviewers = [Interviewer(i, name, case_id) for i, (name, case_id) in enumerate(seed(engine))]
    app_process.start()
    for interviewer in interviewers:
        interviewer.login(app_process.port)
        interviewer.open_case(app_process.port)
    for crash in range(crashes):
        stop = threading.Event()
        threads = [threading.Thread(target=i.work, args=(app_process.port, stop)) for i in interviewers]
        for thread in threads:
            thread.start()
        before = sum(len(i.acknowledged) for i in interviewers)
        deadline = time.monotonic() + 30
        # Kill at a moment that differs from crash to crash, once enough answers went through.
        while sum(len(i.acknowledged) for i in interviewers) < before + 40 + 17 * crash:
            assert time.monotonic() < deadline, "the interviewers made no progress"
            time.sleep(0.005)
        app_process.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)

        for interviewer in interviewers:
            interview, events = stored(engine, int(interviewer.case_path.rsplit("/", 1)[1]))
            answers = interview.state["answers"]
            # Every answer the interviewer saw acknowledged is there, with its value ...
            assert {k: answers.get(k) for k in interviewer.acknowledged} == interviewer.acknowledged
            # ... beside it at most the one answer in flight when the process died ...
            unacknowledged = set(answers) - set(interviewer.acknowledged)
            assert len(unacknowledged) <= 1, unacknowledged
            assert all(answers[k] == value_for(interviewer.number, k) for k in unacknowledged)
            # ... each stored answer with its audit event, the revision counting the steps.
            assert events == len(answers)
            assert interview.revision - interviewer.last_revision in (0, 1)
            assert interview.state["route"][-1][1] == f"Q{len(answers) + 1:03d}"

        app_process.start()
        for interviewer in interviewers:
            # The same session goes on: the screen after the last stored answer.
            stored_answers = stored(engine, int(interviewer.case_path.rsplit("/", 1)[1]))[0].state["answers"]
            assert interviewer.open_case(app_process.port) == f"Q{len(stored_answers) + 1:03d}"
            interviewer.acknowledged = dict(stored_answers)  # the interviewer saw them on reload
    assert sum(len(i.acknowledged) for i in interviewers) >= crashes * 40
