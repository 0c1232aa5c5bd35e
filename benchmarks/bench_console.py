"""The interviewer console under load, over HTTP, on SQLite and PostgreSQL.

What is measured: an *answer submission* as an interviewer's browser with JavaScript makes it —
console.js POSTs the answer form (CSRF token, revision) with the header ``X-Cati-Inline: 1``; the
server runs the engine step, stores the state in the request's transaction and answers with the
next screen, rendered: one request. With ``--prg`` the client does what a browser without
JavaScript does instead: the POST is answered 303 and a GET fetches the next screen (Post/Redirect/
Get, two requests). Latency is from the moment the submission was due to the moment the next screen
has arrived.

How:

* the database (a SQLite file, or a private PostgreSQL server from ``tests.pgserver``) is seeded
  with a long questionnaire (so that no interview ends during the run) and ``--interviewers``
  interviewers, each holding a claimed case with an open interview;
* the app runs under waitress (``--threads``, default 8) in ``--processes`` subprocesses sharing
  the port (``SO_REUSEPORT``), configured as in production (no template reloading): by default one
  process on SQLite (the embedded single-machine set-up: one process, whose transactions queue in
  order for SQLite's one writer) and two on PostgreSQL (several app processes is how PostgreSQL is
  deployed; one Python process cannot use a second core);
* the load comes from another process (this script, ``load`` subcommand; stdlib ``http.client``
  and threads, one keep-alive connection per interviewer) that logs every interviewer in through
  the login form and then replays answers with the tokens and revisions read from the pages:

  - **open loop**: submissions arrive at ``--rate`` per second for ``--duration`` seconds
    (``rate x duration`` submissions, each for an idle interviewer), whatever the response times;
  - **closed loop**: ``--clients`` clients submit back to back for ``--closed-duration`` seconds;
    the throughput is compared with a minimal "hello" Pyramid view (``hello_app.py``) served by
    waitress the same way, loaded by the same client code, in the same run.

    python benchmarks/bench_console.py                       # both databases, the targets of issue 4
    python benchmarks/bench_console.py --databases sqlite --duration 20 --closed-duration 10
    python benchmarks/bench_console.py --prg                 # the two-request path (no JavaScript)
    python benchmarks/bench_console.py --floor               # and the floor of any design (floor_app.py)

With ``--floor`` the closed loop is run a third time against ``floor_app.py`` (an answer step with
nothing but its essential work, JSON in and out) on the same database, with interviewers of its own,
against the same hello: the highest closed-loop ratio any design of the console could reach here.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import queue
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PASSWORD = "bench-passwort-2026"  # noqa: S105 - a throw-away benchmark database
TARGETS = {"p50": 30.0, "p99": 100.0, "ratio": 0.3}


# --------------------------------------------------------------------------- the study


def questionnaire(blocks: int = 80) -> str:
    """About ``4 x blocks`` screens: single choices with fills and specials, numbers with a soft
    check, every third block a grid, every fourth a multiple choice, some questions skipped."""
    lines = [
        "format: cati/1", "id: bench_console", "version: 1", 'title: {de: "Lasttest", en: "Load test"}',
        "languages: [de, en]", "dispositions: {COMPLETE: 1}",
        "lists:",
        "  skala:",
        *(f'    - {{code: {c}, de: "Stufe {c}", en: "level {c}"}}' for c in range(1, 6)),
        "flow:",
        '  - info: intro',
        '    text: {de: "Guten Tag, mein Name ist {$interviewer}.", en: "Hello, my name is {$interviewer}."}',
    ]
    for b in range(1, blocks + 1):
        previous = f"A{b - 1}" if b > 1 else None
        fill = f" (zuvor: {{{previous}:label}})" if previous else ""
        lines += [
            f"  - id: A{b}",
            "    type: single",
            "    list: skala",
            "    special: [DK, REF]",
            f'    text: {{de: "Frage {b}: Wie beurteilen Sie Punkt {b}?{fill}", en: "Question {b}"}}',
            '    instruction: {de: "INT: Skala vorlesen.", en: "INT: Read out the scale."}',
            f"  - id: N{b}",
            "    type: numeric",
            "    min: 0",
            "    max: 100",
            "    special: [DK]",
            f'    text: {{de: "Wie viele Tage im Jahr betrifft Sie Punkt {b}?", en: "How many days?"}}',
            f'    checks: [{{assert: "N{b} <= 90", severity: soft, message: {{de: "Über 90 – stimmt das?", '
            'en: "Over 90?"}}]',
        ]
        if b % 3 == 0:
            lines += [
                f"  - id: G{b}",
                "    type: grid",
                "    list: skala",
                "    special: [DK]",
                f'    text: {{de: "Bewertung der Teilbereiche {b}", en: "Ratings {b}"}}',
                '    rows: [{code: 1, de: "Preis", en: price}, {code: 2, de: "Qualität", en: quality}, '
                '{code: 3, de: "Service", en: service}]',
            ]
        if b % 4 == 0:
            lines += [
                f"  - id: M{b}",
                "    type: multi",
                f'    show_if: "A{b} != 5"',
                "    list: skala",
                f'    text: {{de: "Was davon trifft zu ({b})?", en: "Which apply?"}}',
            ]
        lines += [
            f"  - id: S{b}",
            "    type: single",
            f'    show_if: "A{b} == 5"',  # never true for the benchmark's answers: a real skip
            "    list: skala",
            f'    text: {{de: "Nur bei Stufe 5 ({b})", en: "Only at level 5"}}',
        ]
    lines += ['  - end: COMPLETE', '    text: {de: "Danke!", en: "Thank you!"}']
    return "\n".join(lines) + "\n"


def seed(url: str, interviewers: int) -> list[str]:
    """Schema, study, interviewers with a claimed case and an open interview each; usernames."""
    from sqlalchemy.orm import Session

    from cati.db import get_engine
    from cati.migrate import upgrade
    from tests.console_seed import interviewers_on_cases

    engine = get_engine({"sqlalchemy.url": url})
    upgrade(engine)
    names = [f"bench{i:04d}" for i in range(interviewers)]
    with Session(engine) as session, session.begin():
        interviewers_on_cases(session, questionnaire(), names, PASSWORD)
    engine.dispose()
    return names


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server on port {port} did not start")


@contextlib.contextmanager
def server(args: list[str], port: int, log: Path, processes: int = 1) -> Iterator[list[int]]:
    """``processes`` copies of a waitress server on one port (``SO_REUSEPORT``: the kernel spreads
    the connections), as several app processes serve one site in production; their pids."""
    started: list[subprocess.Popen[bytes]] = []
    with log.open("ab") as out:
        try:
            for _ in range(processes):
                process = subprocess.Popen([sys.executable, *args], stdout=out, stderr=subprocess.STDOUT, cwd=ROOT)
                started.append(process)
                wait_for_port(port, process)
            time.sleep(0.5 if processes > 1 else 0)  # the last one is listening too
            yield [p.pid for p in started]
        finally:
            for process in started:
                process.terminate()
            for process in started:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()


def listening_socket(port: int) -> socket.socket:
    """The port, shared with the other server processes of the run."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", port))
    return sock


def serve(url: str, secret: str, port: int, threads: int, synchronous: str = "full") -> None:
    """The ``serve`` subcommand: the console app under waitress."""
    from waitress import serve as waitress_serve

    from cati import main

    settings = {
        "sqlalchemy.url": url,
        "cati.session_secret": secret,
        "pyramid.default_locale_name": "de",
        "pyramid.reload_templates": "false",
        "retry.attempts": "3",
        "cati.sqlite_synchronous": synchronous,
    }
    # One keep-alive connection per interviewer: more than waitress's default limit of 100.
    waitress_serve(main({}, **settings), sockets=[listening_socket(port)], threads=threads, connection_limit=1000,
                   _quiet=True)


# --------------------------------------------------------------------------- the load


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
FORM = re.compile(r'<form id="answer-form"(.*?)</form>', re.S)
TYPE = re.compile(r'data-type="(\w+)"')
KEY = re.compile(r'name="key" value="([^"]+)"')
REVISION = re.compile(r'name="revision" value="(\d+)"')
CODE = re.compile(r'name="value" value="(\d+)"')
ROW = re.compile(r'name="row-(\d+)"')
COOKIE = re.compile(r"^(cati_session=[^;]*)")


class Refused(RuntimeError):
    pass


class Agent:
    """One interviewer's browser: a keep-alive connection, the session cookie, the current form;
    with JavaScript (one request per answer) or, ``prg``, without (POST, redirect, GET)."""

    cookie_pattern = COOKIE

    def __init__(self, host: str, port: int, username: str, prg: bool = False) -> None:
        self.host, self.port, self.username, self.prg = host, port, username, prg
        self.connection = http.client.HTTPConnection(host, port, timeout=60)
        self.cookie = ""
        self.case_path = ""
        self.fields: dict[str, Any] = {}

    def request(self, method: str, path: str, body: str | None = None,
                extra: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
        headers = {"Host": f"{self.host}:{self.port}", **(extra or {})}
        if self.cookie:
            headers["Cookie"] = self.cookie
        if body is not None:
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=headers)
                response = self.connection.getresponse()
                text = response.read().decode("utf-8")
                break
            except (http.client.HTTPException, OSError):
                self.connection.close()  # a dropped keep-alive connection: open a new one once
                self.connection = http.client.HTTPConnection(self.host, self.port, timeout=60)
                if attempt:
                    raise
        for name, value in response.getheaders():
            if name.lower() == "set-cookie" and (match := self.cookie_pattern.match(value)):
                self.cookie = match.group(1)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text

    def login(self) -> None:
        status, _headers, page = self.request("GET", "/login")
        token = CSRF.search(page).group(1)
        status, _headers, _ = self.request("POST", "/login", urlencode(
            {"csrf_token": token, "username": self.username, "password": PASSWORD, "next": "/"}))
        if status != 303:
            raise Refused(f"login of {self.username}: {status}")
        status, _headers, page = self.request("GET", "/")
        match = re.search(r'id="resume-link" href="https?://[^/]+(/console/cases/\d+)"', page)
        if match is None:
            raise Refused(f"{self.username} has no open case")
        self.case_path = match.group(1)
        self.read(self.request("GET", self.case_path)[2])

    def read(self, page: str) -> None:
        """The answer to give on the screen shown: the first option, 7, every grid row 2, ..."""
        form = FORM.search(page)
        if form is None:
            raise Refused(f"{self.username}: no question on the page")
        html = form.group(1)
        kind = TYPE.search(html).group(1)
        fields: dict[str, Any] = {"csrf_token": CSRF.search(html).group(1), "key": KEY.search(html).group(1),
                                  "revision": REVISION.search(html).group(1), "type": kind}
        if kind in ("single", "multi", "nps"):
            fields["value"] = CODE.search(html).group(1)
        elif kind == "numeric":
            fields["value"] = "7"
        elif kind == "text":
            fields["value"] = "gut"
        elif kind == "grid":
            fields.update({f"row-{code}": "2" for code in dict.fromkeys(ROW.findall(html))})
        self.fields = fields

    def submit(self) -> float | None:
        """POST the answer and read the next screen from the response, as console.js does; with
        ``prg`` POST, then GET the next screen, and return the POST's share of the time (ms)."""
        started = time.perf_counter()
        if not self.prg:
            status, _headers, page = self.request("POST", f"{self.case_path}/answer", urlencode(self.fields),
                                                  {"X-Cati-Inline": "1"})
            if status != 200:
                self.read(page if status == 422 else self.request("GET", self.case_path)[2])
                raise Refused(f"{self.username}: answer {self.fields.get('key')} got {status}")
            self.read(page)
            return None
        status, headers, page = self.request("POST", f"{self.case_path}/answer", urlencode(self.fields))
        posted = time.perf_counter()
        if status != 303:
            self.read(page if status == 422 else self.request("GET", self.case_path)[2])
            raise Refused(f"{self.username}: answer {self.fields.get('key')} got {status}")
        status, _headers, page = self.request("GET", urlsplit(headers["location"]).path)
        if status != 200:
            raise Refused(f"{self.username}: next screen got {status}")
        self.read(page)
        return (posted - started) * 1000


class FloorAgent(Agent):
    """One interviewer of ``floor_app.py``: JSON screens in, JSON answers out (see there)."""

    cookie_pattern = re.compile(r"^(floor=[^;]*)")

    def login(self) -> None:
        status, _headers, text = self.request("GET", f"/floor/login/{self.username}")
        if status != 200:
            raise Refused(f"floor login of {self.username}: {status}")
        data = json.loads(text)
        self.case_path, self.csrf, self.screen = f"/floor/{data['case']}", data["csrf"], data["screen"]

    def submit(self) -> None:
        screen = self.screen
        kind, options = screen["type"], screen["options"]
        value: Any = {"single": lambda: options[0][0], "nps": lambda: options[0][0], "multi": lambda: [options[0][0]],
                      "numeric": lambda: 7, "grid": lambda: {row[1]: 2 for row in screen["rows"]},
                      "info": lambda: None}.get(kind, lambda: "gut")()
        body = json.dumps({"revision": screen["revision"], "key": screen["key"], "value": value})
        status, _headers, text = self.request("POST", self.case_path, body,
                                              {"X-CSRF-Token": self.csrf, "Content-Type": "application/json"})
        if status != 200:
            raise Refused(f"{self.username}: floor answer {screen['key']} got {status}: {text[:200]}")
        self.screen = json.loads(text)
        if "ended" in self.screen:
            raise Refused(f"{self.username}: the interview ended; give the floor more interviewers")


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan")}
    ordered = sorted(values)

    def rank(p: float) -> float:
        return ordered[max(0, -(-len(ordered) * p // 100) - 1)]

    return {"p50": rank(50), "p90": rank(90), "p99": rank(99), "max": ordered[-1]}


def cpu_seconds(pids: list[int] | None) -> float:
    """User + system CPU time of the server processes ``pids`` so far (Linux ``/proc``); 0 when unknown."""
    total = 0.0
    for pid in pids or ():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def load_average() -> list[float]:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return []


def open_loop(agents: list[Agent], rate: float, duration: float, workers: int) -> dict[str, Any]:
    idle: queue.Queue[Agent] = queue.Queue()
    for agent in agents:
        idle.put(agent)
    totals: list[float] = []
    posts: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    count = int(rate * duration)

    def run(agent: Agent, due: float) -> None:
        try:
            post_ms = agent.submit()
            done = time.perf_counter()
            with lock:
                totals.append((done - due) * 1000)
                if post_ms is not None:
                    posts.append(post_ms)
        except Exception as exc:
            with lock:
                errors.append(str(exc))
        finally:
            idle.put(agent)

    begin = time.perf_counter() + 0.2
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for i in range(count):
            due = begin + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(run, idle.get(), due)  # waits for an idle interviewer; the wait counts
    elapsed = time.perf_counter() - begin
    return {"mode": "open", "rate": rate, "submissions": len(totals), "errors": len(errors),
            "error_samples": errors[:5], "elapsed_s": round(elapsed, 2),
            "achieved_per_s": round(len(totals) / elapsed, 1), "latency_ms": percentiles(totals),
            "post_ms": percentiles(posts) if posts else None, "loadavg": load_average()}


def closed_loop(work: list[Any], duration: float, warmup: float, call: Any) -> dict[str, Any]:
    """``len(work)`` clients, each calling ``call(item)`` back to back; completions counted after
    the warm-up only."""
    stop = time.perf_counter() + warmup + duration
    start_counting = time.perf_counter() + warmup
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client(item: Any) -> None:
        while True:
            started = time.perf_counter()
            if started >= stop:
                return
            try:
                call(item)
            except Exception as exc:
                with lock:
                    errors.append(str(exc))
                continue
            done = time.perf_counter()
            if started >= start_counting and done <= stop:
                with lock:
                    latencies.append((done - started) * 1000)

    threads = [threading.Thread(target=client, args=(item,), daemon=True) for item in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"mode": "closed", "clients": len(work), "completed": len(latencies), "errors": len(errors),
            "error_samples": errors[:5], "per_s": round(len(latencies) / duration, 1),
            "latency_ms": percentiles(latencies), "loadavg": load_average()}


def with_cpu(pids: list[int] | None, phase: Any) -> dict[str, Any]:
    """Run ``phase()`` and add the server's CPU time per completed request (ms)."""
    before = cpu_seconds(pids)
    result = phase()
    done = result.get("submissions", result.get("completed", 0)) or 1
    result["server_cpu_ms"] = round((cpu_seconds(pids) - before) * 1000 / done, 2) if pids else None
    return result


def run_load(args: argparse.Namespace) -> dict[str, Any]:
    """The ``load`` subcommand; prints one JSON object."""
    if args.mode == "hello":
        connections = [http.client.HTTPConnection("127.0.0.1", args.port, timeout=60) for _ in range(args.clients)]

        def hello(connection: http.client.HTTPConnection) -> None:
            connection.request("GET", "/hello")
            response = connection.getresponse()
            response.read()
            if response.status != 200:
                raise Refused(f"hello got {response.status}")

        return {"hello": with_cpu(server_pids(args), lambda: closed_loop(connections, args.closed_duration,
                                                                       args.warmup, hello))}
    names = Path(args.users).read_text().split()
    if args.mode == "floor":
        floor_agents = [FloorAgent("127.0.0.1", args.port, name) for name in names]
        for agent in floor_agents:
            agent.login()
            agent.submit()  # and warm the server up
        floor_groups = [floor_agents[i :: args.clients] for i in range(args.clients)]

        def floor_next(group: list[FloorAgent]) -> None:
            group.append(group.pop(0))
            group[-1].submit()

        return {"floor": with_cpu(server_pids(args), lambda: closed_loop(floor_groups, args.closed_duration,
                                                                       args.warmup, floor_next))}
    agents = [Agent("127.0.0.1", args.port, name, prg=args.prg) for name in names]
    started = time.perf_counter()
    # Two at a time: a login hashes the password (argon2, slow on purpose) inside its transaction,
    # and on SQLite a crowd of them starves waiters past the busy timeout.
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(Agent.login, agents))
    result: dict[str, Any] = {"login_s": round(time.perf_counter() - started, 1),
                              "submission": "prg" if args.prg else "inline"}
    for agent in agents[: min(len(agents), 50)]:  # warm the server's caches (templates, engine)
        agent.submit()
    result["open"] = with_cpu(server_pids(args), lambda: open_loop(agents, args.rate, args.duration,
                                                                 workers=args.workers))
    groups = [agents[i :: args.clients] for i in range(args.clients)]

    def submit_next(group: list[Agent]) -> None:
        group.append(group.pop(0))  # each client takes turns with its interviewers
        group[-1].submit()

    result["closed"] = with_cpu(server_pids(args), lambda: closed_loop(groups, args.closed_duration, args.warmup,
                                                                     submit_next))
    return result


# --------------------------------------------------------------------------- orchestration


def database_url(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench-console.sqlite'}"
        return
    from tests.pgserver import PostgresServer

    pg = PostgresServer()
    pg.start()
    try:
        yield pg.create_database("cati_bench_console")
    finally:
        pg.stop()


def server_pids(args: argparse.Namespace) -> list[int]:
    return [int(p) for p in (args.server_pids or "").split(",") if p]


def load_process(args: argparse.Namespace, port: int, mode: str, users: Path | None = None,
                 server_pids: list[int] | None = None) -> dict[str, Any]:
    command = [sys.executable, __file__, "load", "--port", str(port), "--mode", mode, "--rate", str(args.rate),
               "--duration", str(args.duration), "--closed-duration", str(args.closed_duration),
               "--clients", str(args.clients), "--warmup", str(args.warmup), "--workers", str(args.workers)]
    if users is not None:
        command += ["--users", str(users)]
    if server_pids:
        command += ["--server-pids", ",".join(map(str, server_pids))]
    if args.prg:
        command.append("--prg")
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    if done.returncode:
        raise RuntimeError(f"the load process failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def processes_for(args: argparse.Namespace, kind: str) -> int:
    """``--processes 2`` for every database, or ``sqlite=1,postgresql=2``."""
    spec = str(args.processes)
    if spec.isdigit():
        return int(spec)
    counts = dict(part.split("=", 1) for part in spec.split(",") if "=" in part)
    return int(counts.get(kind, 1))


def run_database(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    generator = database_url(kind, workdir)
    url = next(generator)
    try:
        started = time.perf_counter()
        # The floor gets interviewers of its own (the console's are far into their interviews), three
        # times as many: it answers faster, and each of them must stay short of the questionnaire's end.
        names = seed(url, args.interviewers * (4 if args.floor else 1))
        floor_users = workdir / f"floor-users-{kind}.txt"
        floor_users.write_text("\n".join(names[args.interviewers:]))
        names = names[: args.interviewers]
        seeded = time.perf_counter() - started
        users = workdir / f"users-{kind}.txt"
        users.write_text("\n".join(names))
        port = free_port()
        secret = secrets.token_hex(32)
        log = workdir / f"server-{kind}.log"
        processes = processes_for(args, kind)
        with server([__file__, "serve", "--url", url, "--secret", secret, "--port", str(port),
                     "--threads", str(args.threads), "--sqlite-synchronous", args.sqlite_synchronous],
                    port, log, processes) as app_pids:
            try:
                result = load_process(args, port, "console", users, app_pids)
            except RuntimeError as exc:
                raise RuntimeError(f"{exc}\n--- server log:\n{log.read_text()[-4000:]}") from None
        if args.floor:
            floor_port = free_port()
            with server([str(Path(__file__).with_name("floor_app.py")), "--url", url, "--port", str(floor_port),
                         "--threads", str(args.threads)], floor_port, workdir / "floor.log", processes) as floor_pids:
                result.update(load_process(args, floor_port, "floor", floor_users, floor_pids))
        hello_port = free_port()
        with server([str(Path(__file__).with_name("hello_app.py")), "--port", str(hello_port),
                     "--threads", str(args.threads)], hello_port, workdir / "hello.log", processes) as hello_pids:
            result.update(load_process(args, hello_port, "hello", server_pids=hello_pids))
        result["processes"] = processes
        result["seed_s"] = round(seeded, 1)
        result["ratio"] = round(result["closed"]["per_s"] / result["hello"]["per_s"], 3)
        if "floor" in result:
            result["floor_ratio"] = round(result["floor"]["per_s"] / result["hello"]["per_s"], 3)
        return result
    finally:
        with contextlib.suppress(StopIteration):
            next(generator)


def floor_lines(result: dict[str, Any]) -> list[str]:
    if "floor" not in result:
        return []
    f = result["floor"]
    return [f"floor (floor_app.py: only the essential work of an answer, JSON in and out), same clients: "
            f"{f['per_s']} submissions/s (p50 {f['latency_ms']['p50']:.1f} ms), errors {f['errors']} "
            f"{f['error_samples'][:1]}; server CPU {f['server_cpu_ms']} ms per submission; "
            f"ratio to hello {result['floor_ratio']:.3f}"]


def report(kind: str, result: dict[str, Any], args: argparse.Namespace) -> list[str]:
    o, c, h = result["open"], result["closed"], result["hello"]
    lat = o["latency_ms"]
    requests = 2 if args.prg else 1
    if args.prg:
        path = (f"  POST alone ms: p50 {o['post_ms']['p50']:.1f}  p90 {o['post_ms']['p90']:.1f}  "
                f"p99 {o['post_ms']['p99']:.1f};  ")
    else:
        path = "  one request per submission (the POST is answered with the next screen);  "
    ok_open = lat["p50"] < TARGETS["p50"] and lat["p99"] < TARGETS["p99"] and not o["errors"]
    ok_ratio = result["ratio"] >= TARGETS["ratio"]
    return [
        f"== {kind}: {args.interviewers} interviewers with an open interview; waitress processes="
        f"{result['processes']} x threads={args.threads}; "
        f"{'Post/Redirect/Get (no JavaScript)' if args.prg else 'inline (console.js)'}",
        f"open loop {o['rate']:g}/s for {args.duration:g}s: {o['submissions']} submissions "
        f"({o['achieved_per_s']}/s), errors {o['errors']}",
        f"  submission ({'POST, 303, GET' if args.prg else 'POST'} + next screen) ms: p50 {lat['p50']:.1f}  "
        f"p90 {lat['p90']:.1f}  p99 {lat['p99']:.1f}  "
        f"max {lat['max']:.1f}   [target p50 < {TARGETS['p50']:g}, p99 < {TARGETS['p99']:g}: "
        f"{'met' if ok_open else 'MISSED'}]",
        f"{path}server CPU {o['server_cpu_ms']} ms per submission;  load average {o['loadavg']}",
        f"closed loop {c['clients']} clients, {args.closed_duration:g}s: {c['per_s']} submissions/s "
        f"(p50 {c['latency_ms']['p50']:.1f} ms, p99 {c['latency_ms']['p99']:.1f} ms), errors {c['errors']}; "
        f"server CPU {c['server_cpu_ms']} ms per submission; load average {c['loadavg']}",
        f"hello view, same clients: {h['per_s']} requests/s (p50 {h['latency_ms']['p50']:.1f} ms); "
        f"server CPU {h['server_cpu_ms']} ms per request; load average {h['loadavg']}",
        *floor_lines(result),
        f"ratio submissions/s : hello requests/s = {result['ratio']:.3f} "
        f"(each submission is {requests} request{'s' if requests > 1 else ''}: "
        f"{requests * result['ratio']:.3f} requests : request)   "
        f"[target >= {TARGETS['ratio']:g}: {'met' if ok_ratio else 'MISSED'}]",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", default="run", choices=("run", "serve", "load"))
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--interviewers", type=int, default=150)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads (per process)")
    parser.add_argument("--processes", default="sqlite=1,postgresql=2",
                        help="waitress processes on the port, for the app and the hello baseline alike: "
                             "a number, or per database (default sqlite=1,postgresql=2, as deployed)")
    parser.add_argument("--rate", type=float, default=100.0, help="open loop: submissions per second")
    parser.add_argument("--duration", type=float, default=60.0, help="open loop: seconds")
    parser.add_argument("--closed-duration", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=50, help="closed loop: concurrent clients")
    parser.add_argument("--warmup", type=float, default=3.0, help="closed loop: seconds not counted")
    parser.add_argument("--workers", type=int, default=64, help="open loop: client threads")
    parser.add_argument("--prg", action="store_true",
                        help="submit as a browser without JavaScript: POST, 303, GET (two requests)")
    parser.add_argument("--sqlite-synchronous", choices=("full", "normal"), default="full",
                        help="the app's cati.sqlite_synchronous (default full, as the app's default)")
    parser.add_argument("--floor", action="store_true",
                        help="also measure floor_app.py (an answer step with only its essential work) in the closed "
                             "loop, against the same hello")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--workdir", help="where the temporary databases and server logs go (default: /tmp)")
    # subcommand arguments
    parser.add_argument("--url")
    parser.add_argument("--secret")
    parser.add_argument("--port", type=int)
    parser.add_argument("--mode", choices=("console", "hello", "floor"))
    parser.add_argument("--users")
    parser.add_argument("--server-pids")
    args = parser.parse_args(argv)
    if args.command == "run" and args.clients > args.interviewers:
        parser.error("--clients must not exceed --interviewers: each client works as one interviewer")
    if args.command == "serve":
        serve(args.url, args.secret, args.port, args.threads, args.sqlite_synchronous)
        return 0
    if args.command == "load":
        print(json.dumps(run_load(args)))
        return 0
    results = {}
    print(f"cati console benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
          f"load average {load_average()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="cati-bench-console-", dir=args.workdir) as tmp:
        for kind in filter(None, (k.strip() for k in args.databases.split(","))):
            results[kind] = run_database(kind, args, Path(tmp))
            for line in report(kind, results[kind], args):
                print(line, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
