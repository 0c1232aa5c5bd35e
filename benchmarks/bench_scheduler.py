"""Next-case draw latency with 10k, 100k and 1M cases in a study, on SQLite and PostgreSQL.

For each database and size a fresh database gets one study in field with a realistic case mix
(60 % fresh, 25 % retries - half due -, 5 % appointments - a fifth due, 30 % of them hard
appointments of other interviewers -, 10 % final or blocked; cases spread over the 16 German
states plus "state unknown" by population), written directly with COPY / executemany, then
ANALYZE. Then interviewers claim cases through the real service (``scheduler.next_case``), each
draw in its own session and transaction, committed per claim:

* ``1``: one claimer, the cost of a draw without contention (``--single`` draws);
* ``50 paced``: 50 threads (own connection each) that pause between draws (exponential, mean
  ``--think-ms``, default 1 s; starts spread over the first pause): many interviewers at a busy
  moment (``--paced-draws`` each);
* ``50 flat-out``: 50 threads drawing back to back (``--draws`` each): a throughput test whose
  latency is mostly queueing - for the database (SQLite serialises writers: BEGIN IMMEDIATE) and
  for the Python interpreter (one GIL for all threads).

After an untimed warm-up (six draws per claimer at each moment: caches filled, statements
prepared on every connection), two moments are measured: ``due`` (a Tuesday 14:00 with
appointments and retries due, so draws come from those tiers) and ``fresh`` (a week earlier:
nothing scheduled is due, so every draw finds the first two tiers empty and takes a fresh case).
Claims are returned to the pool between rounds. Prints p50/p90/p99/max per round, ``wait`` (time
to get the transaction, i.e. the queue) and the ratio p50(largest)/p50(smallest); no assertions.

    .venv/bin/python benchmarks/bench_scheduler.py                     # 10k, 100k, 1M on both DBs
    .venv/bin/python benchmarks/bench_scheduler.py --quick             # 10k and 100k, fewer draws
    .venv/bin/python benchmarks/bench_scheduler.py --sizes 10k --db sqlite --threads 8
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    BERLIN,
    DATABASES,
    analyze,
    count_cases,
    create_field_study,
    database,
    dump_json,
    load_average,
    machine,
    make_engine,
    parse_sizes,
    percentiles,
    reset_claims,
    seed_cases,
    size_label,
    zone_ids,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from cati.models import User
from cati.services.scheduler import next_case

NOW = dt.datetime(2026, 11, 24, 14, 0, tzinfo=BERLIN).astimezone(dt.UTC)  # a Tuesday, no holiday anywhere
MOMENTS = {"due": NOW, "fresh": NOW - dt.timedelta(days=7)}


@dataclass
class Round:
    db: str
    size: int
    moment: str
    claimers: int
    think_ms: float
    latency: list[float] = field(default_factory=list)  # seconds, begin of the session to commit
    wait: list[float] = field(default_factory=list)  # seconds until the transaction had begun
    reasons: Counter[str] = field(default_factory=Counter)
    empty: int = 0
    wall: float = 0.0

    def row(self) -> dict[str, object]:
        ms = {k: v * 1000 for k, v in percentiles(self.latency).items()}
        wait = percentiles(self.wait)
        tiers = ",".join(f"{k[0]}{n}" for k, n in sorted(self.reasons.items()))
        mode = "1" if self.claimers == 1 else f"{self.claimers} " + (
            f"paced {self.think_ms / 1000:g}s" if self.think_ms else "flat-out")
        return {"db": self.db, "size": size_label(self.size), "moment": self.moment, "claimers": self.claimers,
                "mode": mode, "draws": len(self.latency), **{k: round(v, 2) for k, v in ms.items()},
                "wait_p50": round(wait["p50"] * 1000, 2), "wait_p99": round(wait["p99"] * 1000, 2),
                "per_s": round(len(self.latency) / self.wall, 1) if self.wall else 0.0,
                "tiers": tiers + (f",none{self.empty}" if self.empty else "")}


def warm_pool(engine: Engine, connections: int) -> None:
    """Open the pool's connections before timing (a new PostgreSQL connection costs a fork)."""
    held = [engine.connect() for _ in range(connections)]
    for connection in held:
        connection.exec_driver_sql("SELECT 1")
        connection.rollback()
        connection.close()


def claim_round(engine: Engine, user_ids: list[int], result: Round, threads: int, draws: int,
                moment: dt.datetime, think: float) -> None:
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def claimer(index: int) -> None:
        latency, wait, reasons, empty = [], [], Counter(), 0
        pause = random.Random(index)
        try:
            barrier.wait()
            if think:  # paced claimers start spread out, not as one burst
                time.sleep(pause.uniform(0, think))
            for _ in range(draws):
                started = time.perf_counter()
                with Session(engine) as session:
                    with session.begin():
                        session.connection()  # BEGIN (IMMEDIATE on SQLite: waits for the write lock)
                        begun = time.perf_counter()
                        user = session.get(User, user_ids[index % len(user_ids)])
                        delivery = next_case(session, user, now=moment)
                    ended = time.perf_counter()
                latency.append(ended - started)
                wait.append(begun - started)
                if delivery is None:
                    empty += 1
                else:
                    reasons[delivery.reason] += 1
                if think:
                    time.sleep(pause.expovariate(1 / think))
        except BaseException as exc:
            errors.append(exc)
        with lock:
            result.latency.extend(latency)
            result.wait.extend(wait)
            result.reasons.update(reasons)
            result.empty += empty

    workers = [threading.Thread(target=claimer, args=(i,)) for i in range(threads)]
    gc.collect()
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    result.wall = time.perf_counter() - started
    if errors:
        raise errors[0]


def bench_size(db: str, size: int, args: argparse.Namespace) -> tuple[list[Round], float]:
    with database(db, name=f"cati_bench_{size_label(size).lower()}") as url:
        engine = make_engine(url, pool_size=args.threads + 5)
        try:
            study_id, user_ids = create_field_study(engine, slug="bench")
            zones = zone_ids(engine, study_id)
            started = time.perf_counter()
            seed_cases(engine, study_id, zones, size, NOW, users=user_ids)
            analyze(engine)
            seeded = time.perf_counter() - started
            if args.verbose:
                print(f"  {db} {size_label(size)}: seeded in {seeded:.1f} s: {count_cases(engine, study_id)}",
                      flush=True)
            warm_pool(engine, args.threads)
            for moment in MOMENTS.values():  # untimed: caches, and statements prepared on every connection
                claim_round(engine, user_ids, Round(db, size, "warm-up", args.threads, 0.0), args.threads, 6,
                            moment, 0.0)
                reset_claims(engine, study_id)
            rounds = []
            plan = [(1, args.single, 0.0), (args.threads, args.paced_draws, args.think_ms),
                    (args.threads, args.draws, 0.0)]
            for moment_name, moment in MOMENTS.items():
                for claimers, draws, think_ms in plan:
                    if not draws:
                        continue
                    result = Round(db, size, moment_name, claimers, think_ms)
                    claim_round(engine, user_ids, result, claimers, draws, moment, think_ms / 1000)
                    reset_claims(engine, study_id)
                    rounds.append(result)
                    if args.verbose:
                        print("  ", _format(result.row()), flush=True)
            return rounds, seeded
        finally:
            engine.dispose()


HEADER = (f"{'db':<10} {'size':>5} {'moment':<6} {'claimers':<14} {'draws':>6} {'p50':>7} {'p90':>7} {'p99':>7} "
          f"{'max':>7} {'wait50':>7} {'wait99':>7} {'draw/s':>7}  tiers delivered")


def _format(row: dict[str, object]) -> str:
    return (f"{row['db']:<10} {row['size']:>5} {row['moment']:<6} {row['mode']:<14} {row['draws']:>6} "
            f"{row['p50']:>7.2f} {row['p90']:>7.2f} {row['p99']:>7.2f} {row['max']:>7.2f} "
            f"{row['wait_p50']:>7.2f} {row['wait_p99']:>7.2f} {row['per_s']:>7.1f}  {row['tiers']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=None, help="comma-separated, e.g. 10k,100k,1M (default: all three)")
    parser.add_argument("--db", default=",".join(DATABASES), help="sqlite, postgresql or both (default)")
    parser.add_argument("--threads", type=int, default=50, help="concurrent claimers (default 50)")
    parser.add_argument("--draws", type=int, default=None,
                        help="draws per claimer in the flat-out round (default 20; 0 skips it)")
    parser.add_argument("--paced-draws", type=int, default=None,
                        help="draws per claimer in the paced round (default 10; 0 skips it)")
    parser.add_argument("--single", type=int, default=None, help="draws of the single claimer (default 300)")
    parser.add_argument("--think-ms", type=float, default=1000.0,
                        help="paced round: mean pause between a claimer's draws (exponential; default 1000)")
    parser.add_argument("--quick", action="store_true", help="10k and 100k, fewer draws")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each round as it ends")
    args = parser.parse_args()
    sizes = parse_sizes(args.sizes or ("10k,100k" if args.quick else "10k,100k,1M"))
    args.draws = (6 if args.quick else 20) if args.draws is None else args.draws
    args.paced_draws = (4 if args.quick else 10) if args.paced_draws is None else args.paced_draws
    args.single = (100 if args.quick else 300) if args.single is None else args.single
    dbs = [d.strip() for d in args.db.split(",") if d.strip()]

    print(f"next-case draw latency in ms ({machine()}); claimers = threads, each draw its own transaction")
    rows, seeding = [], {}
    for db in dbs:
        for size in sizes:
            rounds, seeded = bench_size(db, size, args)
            seeding[(db, size)] = seeded
            rows.extend(r.row() for r in rounds)
    print(HEADER)
    for row in rows:
        print(_format(row))
    print()
    print("seeding (bulk insert + ANALYZE): " + ", ".join(
        f"{db} {size_label(size)} {secs:.1f} s" for (db, size), secs in seeding.items()))
    if len(sizes) > 1:
        small, large = size_label(min(sizes)), size_label(max(sizes))
        for db in dbs:
            for mode in dict.fromkeys(r["mode"] for r in rows):
                for moment in MOMENTS:
                    p50 = {r["size"]: r["p50"] for r in rows if r["db"] == db and r["mode"] == mode
                           and r["moment"] == moment}
                    if p50.get(small) and large in p50:
                        print(f"ratio p50({large})/p50({small}) {db:<10} {mode:<14} {moment:<5}: "
                              f"{p50[large] / p50[small]:.2f}")
    print(f"load average at the end: {load_average()}")
    dump_json(args.json, {"rows": rows, "seeding": {f"{d} {size_label(s)}": v for (d, s), v in seeding.items()}})


if __name__ == "__main__":
    main()
