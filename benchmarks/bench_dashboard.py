"""Supervisor dashboard latency with 1,000,000 cases and 5,000,000 attempts, on SQLite and PostgreSQL.

For each database a fresh database gets one study in field (``--interviewers``, default 40) with the scheduler
benchmark's case mix (``_common.seed_cases``: 60 % fresh, 25 % retries, 5 % appointments, 10 %
final or blocked, over the 16 German states), written with COPY (PostgreSQL) or executemany
(SQLite) - the triggers of migration 0005 keep the case tallies while the rows arrive -, then
``--attempts`` call attempts spread evenly over the 20 days before the moment measured (a
Tuesday 14:00: about 150,000 attempts that day at 5M) and one completed interview per completed case. ANALYZE, then:

* ``dashboard``: ``cati.services.fieldwork.dashboard`` (every figure of the page: tallies,
  callable now, appointments, today's attempts, completes per day, quota cells, rates), each
  call in its own session; the first call is reported apart (cold caches);
* the slowest statements of one warm call, so a regression points at its query;
* ``productivity``: ``cati.services.productivity.productivity`` for the measured day (the first
  call, then the median of three more);
* ``tallies == GROUP BY``: the trigger-kept tallies checked against a full recount.

Prints the figures; no assertions (the target is < 500 ms per dashboard call).

    .venv/bin/python benchmarks/bench_dashboard.py                          # 1M cases, 5M attempts, both DBs
    .venv/bin/python benchmarks/bench_dashboard.py --cases 100k --attempts 500k --db sqlite
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BERLIN,
    DATABASES,
    analyze,
    create_field_study,
    database,
    machine,
    make_engine,
    parse_sizes,
    percentiles,
    seed_cases,
    size_label,
    zone_ids,
)
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cati.models import Study
from cati.services.fieldwork import count_by_key, dashboard, stored_tallies
from cati.services.productivity import productivity

NOW = dt.datetime(2026, 11, 24, 14, 0, tzinfo=BERLIN).astimezone(dt.UTC)  # a Tuesday, no holiday anywhere
PRODUCTIVITY_ROUNDS = 4  # the first call apart, as for the dashboard
ATTEMPT_COLUMNS = ("case_id", "study_id", "user_id", "phone_position", "started_at", "ended_at", "outcome", "aapor",
                   "note")
OUTCOMES = (("no_answer", "3.13", 0.45), ("busy", "3.12", 0.12), ("answering_machine_message", "3.14", 0.13),
            ("appointment_soft", "2.21", 0.08), ("soft_refusal", "2.11", 0.07), ("hard_refusal", "2.111", 0.05),
            ("not_in_service", "4.30", 0.04), ("complete", "1.1", 0.06))


def attempt_rows(study_id: int, case_ids: tuple[int, int], users: list[int], count: int, *, seed: int = 7):
    rnd = random.Random(seed)
    codes = [(o, a) for o, a, _ in OUTCOMES]
    weights = [w for _, _, w in OUTCOMES]
    naive_now = NOW.replace(tzinfo=None)
    span = 20 * 86400
    low, high = case_ids
    chunk = 100_000
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        picks = rnd.choices(codes, weights=weights, k=n)
        for i in range(n):
            started = naive_now - dt.timedelta(seconds=int(span * rnd.random()))
            outcome, aapor = picks[i]
            yield (rnd.randint(low, high), study_id, rnd.choice(users), 1, started,
                   started + dt.timedelta(seconds=rnd.randint(20, 900)), outcome, aapor, "")


def seed_attempts(engine: Engine, study_id: int, users: list[int], count: int) -> None:
    with engine.connect() as connection:
        low, high = connection.execute(text("SELECT min(id), max(id) FROM cases WHERE study_id = :s"),
                                       {"s": study_id}).one()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        rows = attempt_rows(study_id, (low, high), users, count)
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY attempts ({', '.join(ATTEMPT_COLUMNS)}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            cursor.execute("BEGIN")
            columns, marks = ", ".join(ATTEMPT_COLUMNS), ", ".join("?" * len(ATTEMPT_COLUMNS))
            sql = f"INSERT INTO attempts ({columns}) VALUES ({marks})"  # noqa: S608 - constant column names
            batch = []
            for row in rows:
                batch.append((*row[:4], row[4].strftime("%Y-%m-%d %H:%M:%S.%f"),
                              row[5].strftime("%Y-%m-%d %H:%M:%S.%f"), *row[6:]))
                if len(batch) == 50_000:
                    cursor.executemany(sql, batch)
                    batch.clear()
            cursor.executemany(sql, batch)
        raw.commit()
    finally:
        raw.close()


def seed_interviews(engine: Engine, study_id: int, users: list[int]) -> int:
    """One completed interview per completed case, ended over the last 20 days."""
    rnd = random.Random(11)
    with engine.begin() as connection:
        version = connection.execute(text("SELECT max(id) FROM questionnaire_versions WHERE study_id = :s"),
                                     {"s": study_id}).scalar()
        case_ids = connection.execute(text("SELECT id FROM cases WHERE study_id = :s AND outcome = 'complete'"),
                                      {"s": study_id}).scalars().all()
        naive_now = NOW.replace(tzinfo=None)
        rows = []
        for case_id in case_ids:
            ended = naive_now - dt.timedelta(seconds=rnd.randint(0, 20 * 86400))
            rows.append({"study_id": study_id, "case_id": case_id, "version_id": version, "resp_id": str(uuid.uuid4()),
                         "status": "complete", "lang": "de", "interviewer_id": rnd.choice(users),
                         "started_at": ended - dt.timedelta(minutes=rnd.randint(8, 25)), "updated_at": ended,
                         "ended_at": ended, "state": "{}", "is_test": False, "revision": 1})
        connection.execute(text(
            "INSERT INTO interviews (study_id, case_id, version_id, resp_id, status, lang, interviewer_id, started_at, "
            "updated_at, ended_at, state, is_test, revision) VALUES (:study_id, :case_id, :version_id, :resp_id, "
            ":status, :lang, :interviewer_id, :started_at, :updated_at, :ended_at, :state, :is_test, :revision)"),
            rows)
    return len(rows)


class StatementTimer:
    """Wall time of each statement run through ``engine`` while ``active``."""

    def __init__(self, engine: Engine) -> None:
        self.active = False
        self.times: list[tuple[float, str]] = []
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, conn, cursor, statement, parameters, context, executemany) -> None:
        conn.info["bench_start"] = time.perf_counter()

    def _after(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if self.active:
            self.times.append((time.perf_counter() - conn.info.pop("bench_start"), " ".join(statement.split())))


def measure(engine: Engine, study_id: int, rounds: int) -> dict[str, object]:
    timer = StatementTimer(engine)
    latencies = []
    for i in range(rounds + 1):
        gc.collect()
        with Session(engine) as session, session.begin():
            study = session.get(Study, study_id)
            timer.active = i == rounds
            started = time.perf_counter()
            board = dashboard(session, study, now=NOW)
            elapsed = time.perf_counter() - started
            timer.active = False
        latencies.append(elapsed)
    prod_times = []
    for _ in range(PRODUCTIVITY_ROUNDS):
        with Session(engine) as session, session.begin():
            study = session.get(Study, study_id)
            started = time.perf_counter()
            prod = productivity(session, study, now=NOW)
            prod_times.append(time.perf_counter() - started)
    with Session(engine) as session, session.begin():
        started = time.perf_counter()
        consistent = stored_tallies(session, study_id) == count_by_key(session, study_id)
        recount = time.perf_counter() - started
    return {"cold": latencies[0], "warm": percentiles(latencies[1:]), "board": board,
            "slowest": sorted(timer.times, reverse=True)[:6], "productivity": prod_times[0],
            "productivity_warm": percentiles(prod_times[1:]), "productivity_rows": len(prod.interviewers),
            "productivity_calls": prod.totals.calls, "consistent": consistent, "recount": recount}


def run(kind: str, cases: int, attempts: int, rounds: int, interviewers: int, questionnaire: str) -> None:
    with database(kind, name="cati_bench_dashboard") as url:
        engine = make_engine(url)
        study_id, users = create_field_study(engine, slug="dash", interviewers=interviewers,
                                             questionnaire=questionnaire)
        zones = zone_ids(engine, study_id)
        started = time.perf_counter()
        seed_cases(engine, study_id, zones, cases, NOW, users=users)
        case_time = time.perf_counter() - started
        started = time.perf_counter()
        seed_attempts(engine, study_id, users, attempts)
        attempt_time = time.perf_counter() - started
        interviews = seed_interviews(engine, study_id, users)
        analyze(engine)
        print(f"\n{kind}: {size_label(cases)} cases seeded in {case_time:.1f} s (tallies kept by the triggers), "
              f"{size_label(attempts)} attempts in {attempt_time:.1f} s, {interviews} completed interviews")
        result = measure(engine, study_id, rounds)
        warm = result["warm"]
        board = result["board"]
        print(f"  dashboard: cold {result['cold'] * 1000:.0f} ms; warm p50 {warm['p50'] * 1000:.0f} ms, "
              f"p90 {warm['p90'] * 1000:.0f} ms, max {warm['max'] * 1000:.0f} ms ({rounds} calls)")
        print(f"  figures: {board.total_cases:,} cases, {board.completes:,} completes, "
              f"{board.attempts_today:,} attempts today, {board.callable_now:,} callable now, "
              f"{board.appointments_due:,} appointments due within {board.horizon_hours} h, "
              f"RR3 {board.rates['RR3']:.3f} (e = {board.e.value:.3f}, {board.e.method})")
        print("  slowest statements of a warm call:")
        for seconds, statement in result["slowest"]:
            print(f"    {seconds * 1000:7.1f} ms  {statement[:150]}")
        warm_prod = result["productivity_warm"]
        print(f"  productivity (one day: {result['productivity_calls']:,} attempts, {result['productivity_rows']} "
              f"interviewers): first {result['productivity'] * 1000:.0f} ms, then p50 {warm_prod['p50'] * 1000:.0f} ms "
              f"({PRODUCTIVITY_ROUNDS - 1} calls)")
        print(f"  tallies == GROUP BY over the cases: {result['consistent']} "
              f"(the full recount takes {result['recount'] * 1000:.0f} ms)")
        engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="1M")
    parser.add_argument("--attempts", default="5M")
    parser.add_argument("--db", choices=(*DATABASES, "both"), default="both")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--interviewers", type=int, default=40)
    parser.add_argument("--questionnaire", default="lieferdienst_nachfrage.yaml",
                        help="from questionnaires/; kundendienst_zufriedenheit.yaml has a sample-only quota")
    args = parser.parse_args(argv)
    cases, attempts = parse_sizes(args.cases)[0], parse_sizes(args.attempts)[0]
    print(f"dashboard benchmark: {machine()}")
    for kind in DATABASES if args.db == "both" else (args.db,):
        run(kind, cases, attempts, args.rounds, args.interviewers, args.questionnaire)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
