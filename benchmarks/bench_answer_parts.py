"""Where an answer submission's server time goes, and how low it could go.

``bench_console.py`` measures answer submissions over HTTP; this script takes one apart, in one
process, without HTTP (WebTest calls the WSGI app), on a SQLite file seeded as ``bench_console.py``
seeds it (its long questionnaire, interviews in progress):

1. **The app's step**: console.js's request (``X-Cati-Inline: 1``) through the whole app, with
   timers around its parts: loading the user (the transaction's BEGIN included), the case and its
   interview, the engine step, storing the state, rendering the next question, the commit; the
   rest is Pyramid, WebOb, the session cookie and CSRF.
2. **A floor**: the same step with everything but the essentials taken away: one SQL statement
   for interview, case and user, the engine step on the stored state, one UPDATE and one INSERT
   (the audit event), no ORM, no transaction manager, no rendering. No product would run like
   this (no permission check, no quota gate, nothing to show), which is why it is a floor.
3. **"hello"**: the minimal Pyramid view of ``hello_app.py``, the closed-loop baseline.

The last lines relate them to issue 4's closed-loop target (an answer's throughput >= 0.3 of
hello's, i.e. at most ~3.3 times hello's server time per answer).

    .venv/bin/python benchmarks/bench_answer_parts.py [--steps 150]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import re
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for path in (ROOT, ROOT / "benchmarks"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import bench_console  # noqa: E402

#: (label, module, attribute) of what the app's step is timed by; nested parts are indented (the
#: case context asks for the user first, which opens the transaction).
PARTS = (
    ("case context", "cati.web.resources:CaseContext", "__init__"),
    ("  the user (with BEGIN)", "cati.web.security:CatiSecurityPolicy", "identity"),
    ("interview", "cati.services.console", "interview_of"),
    ("answer service", "cati.services.interviews", "answer"),
    ("  engine step", "cati.questionnaires.engine:Engine", "answer"),
    ("  store state (flush)", "cati.services.interviews", "_store"),
    ("render next question", "jinja2:Template", "render"),
    ("commit", "transaction._transaction:Transaction", "commit"),
)
TOP_LEVEL = [label for label, _module, _name in PARTS if not label.startswith(" ")]


def resolve(spec: str) -> Any:
    import importlib

    module, _, attribute = spec.partition(":")
    target = importlib.import_module(module)
    return getattr(target, attribute) if attribute else target


@contextlib.contextmanager
def timed(spent: Counter[str]) -> Iterator[None]:
    """Wrap every part of :data:`PARTS` with a timer adding to ``spent`` (seconds)."""
    originals = []
    for label, spec, name in PARTS:
        owner = resolve(spec)
        original = getattr(owner, name)

        def wrapper(*args: Any, _original: Callable[..., Any] = original, _label: str = label, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                return _original(*args, **kw)
            finally:
                spent[_label] += time.perf_counter() - started

        setattr(owner, name, wrapper)
        originals.append((owner, name, original))
    try:
        yield
    finally:
        for owner, name, original in reversed(originals):
            setattr(owner, name, original)


class Browser:
    """One interviewer in WebTest: logged in, on their case, answering as console.js does."""

    def __init__(self, app: Any, username: str) -> None:
        from webtest import TestApp

        self.app = TestApp(app)
        page = self.app.get("/login")
        self.app.post("/login", {"csrf_token": bench_console.CSRF.search(page.text).group(1), "username": username,
                                 "password": bench_console.PASSWORD, "next": "/"})
        home = self.app.get("/").text
        self.case = re.search(r'id="resume-link" href="https?://[^/]+(/console/cases/\d+)"', home).group(1)
        self.agent = bench_console.Agent.__new__(bench_console.Agent)
        self.agent.username = username
        self.agent.read(self.app.get(self.case).text)

    def step(self) -> None:
        response = self.app.post(f"{self.case}/answer", self.agent.fields, headers={"X-Cati-Inline": "1"})
        self.agent.read(response.text)


def app_step(url: str, username: str, steps: int, warmup: int) -> tuple[float, Counter[str]]:
    """Mean seconds per step of the real app, and the seconds spent in each part (per step)."""
    from cati import main

    app = main({}, **{"sqlalchemy.url": url, "cati.session_secret": "b" * 40, "pyramid.default_locale_name": "de",
                      "pyramid.reload_templates": "false"})
    browser = Browser(app, username)
    for _ in range(warmup):
        browser.step()
    spent: Counter[str] = Counter()
    with timed(spent):
        started = time.perf_counter()
        for _ in range(steps):
            browser.step()
        total = (time.perf_counter() - started) / steps
    return total, Counter({k: v / steps for k, v in spent.items()})


def floor_step(url: str, case_id: int, steps: int, warmup: int) -> tuple[float, Counter[str]]:
    """The same kind of step with raw SQL and no web layer (see the module docstring)."""
    from cati.db import get_engine, get_session_factory
    from cati.models import Interview
    from cati.questionnaires.state import State
    from cati.services.interviews import engine_of

    with get_session_factory(get_engine({"sqlalchemy.url": url}))() as session:
        interview = session.scalar(__import__("sqlalchemy").select(Interview).where(Interview.case_id == case_id))
        engine = engine_of(session, interview.version_id)
    connection = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    connection.execute("PRAGMA synchronous = NORMAL")
    spent: Counter[str] = Counter()

    def step() -> None:
        t0 = time.perf_counter()
        connection.execute("BEGIN IMMEDIATE")
        row = connection.execute(
            "SELECT i.id, i.revision, i.state, c.claimed_by, u.active, u.session_version, m.user_id "
            "FROM interviews i JOIN cases c ON c.id = i.case_id JOIN users u ON u.id = c.claimed_by "
            "LEFT JOIN study_members m ON m.study_id = c.study_id AND m.user_id = u.id WHERE i.case_id = ?",
            (case_id,)).fetchone()
        t1 = time.perf_counter()
        state = State.from_dict(json.loads(row[2]))
        screen = engine.screen(state)
        t2 = time.perf_counter()
        engine.answer(state, screen.key, floor_answer(screen))
        t3 = time.perf_counter()
        data = json.dumps(state.to_dict())
        t4 = time.perf_counter()
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        connection.execute("UPDATE interviews SET state = ?, lang = ?, updated_at = ?, revision = revision + 1 "
                           "WHERE id = ? AND revision = ?", (data, state.lang, now, row[0], row[1]))
        connection.execute("INSERT INTO audit_events (at, action, user_id, study_id, target, details) "
                           "VALUES (?, 'interview.answer', ?, NULL, ?, ?)",
                           (now, row[3], f"interview:{row[0]}", json.dumps({"key": screen.key})))
        connection.execute("COMMIT")
        t5 = time.perf_counter()
        for label, seconds in (("one SELECT (with BEGIN)", t1 - t0), ("state from JSON", t2 - t1),
                               ("engine step", t3 - t2), ("state to JSON", t4 - t3),
                               ("UPDATE, INSERT, COMMIT", t5 - t4)):
            spent[label] += seconds

    for _ in range(warmup):
        step()
    spent.clear()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    total = (time.perf_counter() - started) / steps
    connection.close()
    return total, Counter({k: v / steps for k, v in spent.items()})


def floor_answer(screen: Any) -> Any:
    """What ``bench_console.Agent.read`` answers, as engine values."""
    if screen.type in ("single", "nps"):
        return screen.options[0].code
    if screen.type == "multi":
        return [screen.options[0].code]
    if screen.type == "numeric":
        return 7
    if screen.type == "grid":
        return {row.key: 2 for row in screen.rows}
    return "gut"


def hello_request(requests: int) -> float:
    from hello_app import make_app
    from webtest import TestApp

    app = TestApp(make_app())
    for _ in range(200):
        app.get("/hello")
    started = time.perf_counter()
    for _ in range(requests):
        app.get("/hello")
    return (time.perf_counter() - started) / requests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=150, help="measured steps (the interview has ~400 screens)")
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--hello-http-ms", type=float, default=0.19,
                        help="server CPU of hello over HTTP (bench_console.py prints it), to add HTTP to the figures")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cati-parts-") as workdir:
        url = f"sqlite:///{Path(workdir) / 'parts.sqlite'}"
        usernames = bench_console.seed(url, 2)
        total, parts = app_step(url, usernames[0], args.steps, args.warmup)
        floor, floor_parts = floor_step(url, 2, args.steps, args.warmup)
    hello = hello_request(5000)
    ms = 1000
    print(f"cati answer parts: {args.steps} steps after {args.warmup}, in one process without HTTP (WebTest), SQLite")
    print(f"the app's step (X-Cati-Inline): {total * ms:.3f} ms")
    for label, _spec, _name in PARTS:
        print(f"  {label:28s} {parts[label] * ms:6.3f} ms")
    rest = total - sum(parts[k] for k in TOP_LEVEL)
    print(f"  {'rest (Pyramid, WebTest, ...)':28s} {rest * ms:6.3f} ms")
    print(f"floor (raw SQL, no web layer, nothing rendered): {floor * ms:.3f} ms")
    for label, seconds in floor_parts.items():
        print(f"  {label:28s} {seconds * ms:6.3f} ms")
    print(f"hello view: {hello * ms:.3f} ms")
    rendered = parts["render next question"]
    http = args.hello_http_ms / ms - hello  # what serving over HTTP adds to any request
    print(f"in process, answer : hello = {total / hello:.0f} (the app), {(floor + hello + rendered) / hello:.0f} "
          f"(floor + hello + rendering), {(floor + hello) / hello:.0f} (floor + hello)")
    print(f"over HTTP (+{http * ms:.2f} ms each, from hello's {args.hello_http_ms} ms there): answer : hello = "
          f"{(total + http) / (hello + http):.1f} (the app), {(floor + hello + rendered + http) / (hello + http):.1f} "
          f"(floor + rendering), {(floor + hello + http) / (hello + http):.1f} (floor, nothing rendered); "
          f"issue 4's closed-loop target (>= 0.3 of hello's throughput) needs <= 3.3")
    return 0


if __name__ == "__main__":
    sys.exit(main())
