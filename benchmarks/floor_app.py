"""The floor of ``bench_console.py``'s closed loop: an answer submission doing only the work that
any correct implementation of it must do, served by waitress exactly like the console.

Issue 4 asks for the console's closed-loop throughput to be at least 0.3 of a minimal "hello"
Pyramid view's. This app answers the question whether *any* design on our stack can get there,
whatever it costs in code: it is the console's answer step stripped to its essentials, with every
shortcut a hand-tuned JSON step API could take, and it is measured in the same run, on the same
database, by the same client code as the console and hello (``bench_console.py --floor``).

What one ``POST /floor/{case}`` does (no ORM, no transaction manager, no templates, no session
machinery, no quota gate, no retry): check a signed cookie and a CSRF header (two HMACs), parse a
JSON body, open a writing transaction, read interview, case, interviewer and study membership in
one statement, check claim, membership and revision, run the engine step on the stored state,
write the new state with one UPDATE and an audit event with one INSERT, commit (SQLite: every
commit synced, as the app), and answer with the next screen as JSON (texts included, the browser
would draw it). A real console needs more than this (a permission system, quota cells, the
interview's end, an HTML screen for browsers without JavaScript, ...); nothing here is optional.

``GET /floor/login/{username}`` hands out the cookie without a password (the password check is a
login's cost, not an answer's) with the interviewer's case and its current screen.

    python benchmarks/floor_app.py --url sqlite:///... --port 6602 --threads 8
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import hmac
import json
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pyramid.config import Configurator  # noqa: E402
from pyramid.response import Response  # noqa: E402

SELECT = (
    "SELECT i.id, i.revision, i.state, i.version_id, i.study_id, c.claimed_by, u.active, u.first_name, m.user_id "
    "FROM interviews i JOIN cases c ON c.id = i.case_id JOIN users u ON u.id = ? "
    "LEFT JOIN study_members m ON m.study_id = c.study_id AND m.user_id = u.id WHERE i.case_id = ?"
)
UPDATE = ("UPDATE interviews SET state = ?, lang = ?, updated_at = ?, revision = revision + 1 "
          "WHERE id = ? AND revision = ?")
INSERT = ("INSERT INTO audit_events (at, action, user_id, study_id, target, details) "
          "VALUES (?, 'interview.answer', ?, ?, ?, ?)")


def screen_json(screen: Any, revision: int) -> dict[str, Any]:
    """What a browser needs to draw a question: texts, options, rows, specials, bounds."""
    if not hasattr(screen, "key"):  # the interview ended
        return {"revision": revision, "ended": screen.status}
    return {
        "revision": revision, "key": screen.key, "type": screen.type, "text": screen.text,
        "instruction": screen.instruction, "position": screen.position,
        "options": [[o.code, o.label] for o in screen.options],
        "rows": [[r.code, r.key, r.label] for r in screen.rows],
        "specials": [[s.name, s.label] for s in screen.specials],
        "min": screen.min, "max": screen.max, "existing": screen.existing,
    }


class Floor:
    """The database side: one DB-API connection per waitress thread, SQL with ``?`` placeholders."""

    def __init__(self, url: str, secret: str) -> None:
        from sqlalchemy import select, text
        from sqlalchemy.orm import Session

        from cati.db import FifoLock, get_engine
        from cati.models import Interview
        from cati.services.interviews import engine_of

        self.secret = secret.encode()
        self.sa_engine = get_engine({"sqlalchemy.url": url})  # the app's SQLite set-up: WAL, FULL, busy timeout
        self.sqlite = self.sa_engine.dialect.name == "sqlite"
        self.lock = FifoLock() if self.sqlite else None  # one writer at a time within the process, in order
        with Session(self.sa_engine) as session:
            versions = session.scalars(select(Interview.version_id).distinct()).all()
            self.engines = {v: engine_of(session, v) for v in versions}
            self.users = dict(session.execute(text("SELECT username, id FROM users")).all())
        self.local = threading.local()

    def sql(self, statement: str) -> str:
        return statement if self.sqlite else statement.replace("?", "%s")

    def connection(self) -> Any:
        connection = getattr(self.local, "connection", None)
        if connection is None:
            connection = self.local.connection = self.sa_engine.raw_connection().driver_connection
        return connection

    def sign(self, value: str) -> str:
        return hmac.new(self.secret, value.encode(), hashlib.sha256).hexdigest()

    def current(self, case_id: int) -> dict[str, Any]:
        connection = self.connection()
        row = connection.execute(self.sql("SELECT revision, state, version_id FROM interviews WHERE case_id = ?"),
                                 (case_id,)).fetchone()
        if not self.sqlite:
            connection.rollback()
        from cati.questionnaires.state import State

        state = State.from_dict(json.loads(row[1]) if isinstance(row[1], str) else row[1])
        return screen_json(self.engines[row[2]].screen(state), row[0])

    def answer(self, user_id: int, case_id: int, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        from cati.questionnaires.state import State

        connection = self.connection()
        if self.sqlite:
            self.lock.acquire(15)
        try:
            if self.sqlite:
                connection.execute("BEGIN IMMEDIATE")
            row = connection.execute(self.sql(SELECT + ("" if self.sqlite else " FOR UPDATE OF i")),
                                     (user_id, case_id)).fetchone()
            if row is None or row[5] != user_id or not row[6] or row[8] is None:
                connection.rollback()
                return 403, {"error": "not your case"}
            if row[1] != body["revision"]:
                connection.rollback()
                return 409, {"error": "saved meanwhile"}
            state = State.from_dict(json.loads(row[2]) if isinstance(row[2], str) else row[2])
            before = dict(state.answers)
            result = self.engines[row[3]].answer(state, body["key"], body["value"], interviewer=row[7])
            if not result.accepted:
                connection.rollback()
                return 422, {"errors": [str(e) for e in result.errors]}
            changes = {k: v for k, v in state.answers.items() if before.get(k) != v}
            now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            connection.execute(self.sql(UPDATE), (json.dumps(state.to_dict()), state.lang, now, row[0], row[1]))
            connection.execute(self.sql(INSERT), (now, user_id, row[4], f"interview:{row[0]}",
                                                  json.dumps({"key": body["key"], "changes": changes}, default=str)))
            connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            if self.sqlite:
                self.lock.release()
        return 200, screen_json(result.screen, row[1] + 1)


def make_app(url: str, secret: str) -> Any:
    floor = Floor(url, secret)

    def reply(status: int, data: dict[str, Any], **headers: str) -> Response:
        response = Response(json.dumps(data).encode(), status=status, content_type="application/json")
        response.headers.update(headers)
        return response

    def login(request: Any) -> Response:
        user_id = floor.users[request.matchdict["username"]]
        row = floor.connection().execute(floor.sql("SELECT id FROM cases WHERE claimed_by = ?"), (user_id,)).fetchone()
        if not floor.sqlite:
            floor.connection().rollback()
        data = {"case": row[0], "csrf": floor.sign(f"csrf:{user_id}"), "screen": floor.current(row[0])}
        return reply(200, data, **{"Set-Cookie": f"floor={user_id}.{floor.sign(str(user_id))}; HttpOnly; Path=/"})

    def answer(request: Any) -> Response:
        user_id, _, signature = request.cookies.get("floor", "").partition(".")
        if not user_id or not hmac.compare_digest(signature, floor.sign(user_id)):
            return reply(403, {"error": "log in"})
        if not hmac.compare_digest(request.headers.get("X-CSRF-Token", ""), floor.sign(f"csrf:{user_id}")):
            return reply(400, {"error": "CSRF"})
        status, data = floor.answer(int(user_id), int(request.matchdict["case"]), json.loads(request.body))
        return reply(status, data)

    with Configurator() as config:
        config.add_route("login", "/floor/login/{username}")
        config.add_route("answer", "/floor/{case}")
        config.add_view(login, route_name="login", request_method="GET")
        config.add_view(answer, route_name="answer", request_method="POST")
    return config.make_wsgi_app()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--secret", default="floor-secret")
    args = parser.parse_args(argv)
    from bench_console import listening_socket
    from waitress import serve

    serve(make_app(args.url, args.secret), sockets=[listening_socket(args.port)], threads=args.threads,
          connection_limit=1000, _quiet=True)


if __name__ == "__main__":
    main()
