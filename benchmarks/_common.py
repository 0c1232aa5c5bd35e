"""Helpers shared by the database benchmarks (``bench_scheduler.py``, ``bench_import.py``).

* :func:`database` yields a fresh database URL: a SQLite file (WAL, configured by ``cati.db`` as
  the app does) or a private PostgreSQL server started through ``tests.pgserver`` (Unix socket
  only, removed afterwards; like the test server it runs with ``fsync=off``).
* :func:`make_engine` builds the app's engine and upgrades the schema to head.
* :func:`create_field_study` creates a study in field with interviewers through the services.
* :func:`seed_cases` writes a realistic case mix directly (COPY on PostgreSQL, executemany on
  SQLite), bypassing the CSV import, so that a million cases are there in seconds.
* :func:`percentiles`, :func:`peak_rss_mb`, :func:`load_average`: reporting.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import resource
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sqlalchemy import select, text  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from cati.db import get_engine  # noqa: E402
from cati.migrate import upgrade  # noqa: E402
from cati.models import CallingZone, Case, StudyZone  # noqa: E402

QUESTIONNAIRES = ROOT / "questionnaires"
BERLIN = ZoneInfo("Europe/Berlin")
#: The 16 German states and "" (state unknown: every state's holidays apply).
STATES = ("BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH", "")
#: Rough population shares (millions) so that big states hold more cases, as in a real sample.
STATE_WEIGHTS = (11.1, 13.2, 3.7, 2.5, 0.7, 1.9, 6.3, 1.6, 8.0, 17.9, 4.1, 1.0, 4.1, 2.2, 2.9, 2.1, 3.0)
DATABASES = ("sqlite", "postgresql")


def parse_sizes(text: str) -> list[int]:
    """``"10k,100k,1M"`` -> [10000, 100000, 1000000]."""
    sizes = []
    for part in filter(None, (p.strip().lower() for p in text.split(","))):
        factor = 1
        if part.endswith("k"):
            part, factor = part[:-1], 1_000
        elif part.endswith("m"):
            part, factor = part[:-1], 1_000_000
        sizes.append(int(float(part) * factor))
    return sizes


def size_label(n: int) -> str:
    if n >= 1_000_000 and n % 1_000_000 == 0:
        return f"{n // 1_000_000}M"
    if n >= 1_000 and n % 1_000 == 0:
        return f"{n // 1_000}k"
    return str(n)


@contextmanager
def database(kind: str, name: str = "cati_bench", workdir: Path | None = None) -> Iterator[str]:
    """A fresh, empty database of ``kind`` (``sqlite`` or ``postgresql``); yields its URL."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="cati-bench-", dir=workdir) as tmp:
            yield f"sqlite:///{Path(tmp) / (name + '.sqlite')}"
        return
    if kind != "postgresql":
        raise ValueError(f"unknown database {kind!r}")
    from tests.pgserver import PostgresServer

    server = PostgresServer()
    server.start()
    try:
        yield server.create_database(name)
    finally:
        server.stop()


def make_engine(url: str, pool_size: int = 5) -> Engine:
    """The app's engine (``cati.db.get_engine``) on an upgraded schema."""
    engine = get_engine({"sqlalchemy.url": url, "sqlalchemy.pool_size": str(pool_size),
                         "sqlalchemy.max_overflow": "0"})
    upgrade(engine)
    return engine


def analyze(engine: Engine) -> None:
    """Planner statistics, as the app refreshes them after a big import."""
    with engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("ANALYZE")
        else:
            connection.commit()
            connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")


def create_field_study(engine: Engine, *, slug: str, questionnaire: str = "lieferdienst_nachfrage.yaml",
                       purpose: str = "research", interviewers: int = 10,
                       settings: dict[str, str] | None = None) -> tuple[int, list[int]]:
    """A study in field with ``interviewers`` assigned users (every second one converts
    refusals). Returns (study id, user ids)."""
    from cati.models import User
    from cati.services.studies import assign_member, create_study, update_settings
    from cati.services.users import create_user

    with Session(engine) as session, session.begin():
        study = create_study(session, source=(QUESTIONNAIRES / questionnaire).read_text(encoding="utf-8"),
                             source_name=questionnaire, slug=slug, purpose=purpose)
        update_settings(session, study, {**(settings or {}), "status": "field"})
        users: list[User] = []
        for i in range(interviewers):
            user = create_user(session, f"{slug}-int{i:02d}", role="interviewer", password="bench-passwort-123")  # noqa: S106
            if i % 2:
                user.skills = {"refusal_conversion": True}
            assign_member(session, study, user)
            users.append(user)
        session.flush()
        return study.id, [u.id for u in users]


def zone_ids(engine: Engine, study_id: int, states: Sequence[str] = STATES) -> list[int]:
    """Calling zones Europe/Berlin + DE + each state, recorded as the study's zones."""
    with Session(engine) as session, session.begin():
        known = {z.region: z.id for z in session.scalars(
            select(CallingZone).where(CallingZone.tz == "Europe/Berlin", CallingZone.country == "DE"))}
        for state in states:
            if state not in known:
                zone = CallingZone(tz="Europe/Berlin", country="DE", region=state)
                session.add(zone)
                session.flush()
                known[state] = zone.id
        have = set(session.scalars(select(StudyZone.zone_id).where(StudyZone.study_id == study_id)))
        for state in states:
            if known[state] not in have:
                session.add(StudyZone(study_id=study_id, zone_id=known[state]))
        return [known[s] for s in states]


# --------------------------------------------------------------------------- the case mix


@dataclass(frozen=True)
class Mix:
    """Shares of the sample (they sum to 1) and of the scheduled cases that are due at ``now``."""

    fresh: float = 0.60
    retry: float = 0.25
    appointment: float = 0.05
    closed: float = 0.10  # final dispositions (7 %) and blocked cases (3 %)
    retry_due: float = 0.5
    appointment_due: float = 0.2
    hard_appointments: float = 0.3


COLUMNS = ("study_id", "ref", "state", "tier", "zone_id", "order_key", "next_call_at", "block_kind",
           "block_reason", "reserved_for", "reserved_until", "attempts", "attempts_day", "attempts_today",
           "last_attempt_at", "outcome", "aapor", "person_type", "customer", "consent_at", "consent_source",
           "language", "fields", "is_test", "created_at")
RETRY_OUTCOMES = (("no_answer", "3.13", 120), ("no_answer", "3.13", 120), ("busy", "3.12", 15),
                  ("answering_machine_message", "3.14", 240), ("answering_machine_no_message", "3.14", 240))
FINAL_OUTCOMES = (("complete", "1.1"), ("hard_refusal", "2.111"), ("not_in_service", "4.30"),
                  ("fax", "4.20"), ("not_eligible", "4.70"))


def _epoch(moment: dt.datetime) -> int:
    return int(moment.timestamp())


def case_rows(study_id: int, zones: Sequence[int], count: int, now: dt.datetime, *, start: int = 0,
              seed: int = 1, mix: Mix = Mix(), users: Sequence[int] = (),
              not_before: dt.datetime | None = None) -> Iterator[tuple[Any, ...]]:
    """Rows for ``cases`` (in :data:`COLUMNS` order, datetimes naive UTC) with the mix ``mix`` at
    ``now``. Due retries and appointments lie in the two days before ``now``; not-due ones up to
    five days after it; no scheduled time lies before ``not_before`` (default: now - 3 days), so a
    draw at an earlier moment sees fresh cases only."""
    rnd = random.Random(seed * 1_000_003 + start)
    naive_now = now.astimezone(dt.UTC).replace(tzinfo=None)
    created = naive_now - dt.timedelta(days=10)
    floor = (not_before or now - dt.timedelta(days=3)).astimezone(dt.UTC).replace(tzinfo=None)
    past_span = max(60, int((naive_now - floor).total_seconds()) - 60)
    cum = (mix.fresh, mix.fresh + mix.retry, mix.fresh + mix.retry + mix.appointment)
    zone_weights = list(STATE_WEIGHTS[: len(zones)])
    picked_zones = rnd.choices(list(zones), weights=zone_weights, k=count)
    for offset in range(count):
        i = start + offset
        draw = rnd.random()
        zone = picked_zones[offset]
        row: dict[str, Any] = {
            "study_id": study_id, "ref": f"B{i:08d}", "state": "ready", "tier": 2, "zone_id": zone,
            "order_key": rnd.getrandbits(62), "next_call_at": created, "block_kind": "", "block_reason": "",
            "reserved_for": None, "reserved_until": None, "attempts": 0, "attempts_day": None,
            "attempts_today": 0, "last_attempt_at": None, "outcome": "", "aapor": "3.11",
            "person_type": "private", "customer": False, "consent_at": None, "consent_source": "",
            "language": "en" if rnd.random() < 0.02 else "", "fields": "{}", "is_test": False,
            "created_at": created,
        }
        if draw < cum[0]:
            pass  # fresh
        elif draw < cum[1]:
            outcome, aapor, delay = rnd.choice(RETRY_OUTCOMES)
            if rnd.random() < 0.03:
                outcome, aapor, delay = "soft_refusal", "2.111", 10080
            if rnd.random() < mix.retry_due:
                due = naive_now - dt.timedelta(seconds=rnd.randint(60, past_span))
            else:
                due = naive_now + dt.timedelta(seconds=rnd.randint(60, 5 * 86400))
            last = due - dt.timedelta(minutes=delay)
            row.update(tier=1, order_key=_epoch(due.replace(tzinfo=dt.UTC)), next_call_at=due,
                       attempts=rnd.randint(1, 6), attempts_day=last.date(), attempts_today=1,
                       last_attempt_at=last, outcome=outcome, aapor=aapor)
        elif draw < cum[2]:
            if rnd.random() < mix.appointment_due:
                due = naive_now - dt.timedelta(seconds=rnd.randint(0, min(past_span, 7200)))
            else:
                due = naive_now + dt.timedelta(seconds=rnd.randint(3600, 5 * 86400))
            hard = users and rnd.random() < mix.hard_appointments
            row.update(tier=0, order_key=_epoch(due.replace(tzinfo=dt.UTC)), next_call_at=due,
                       attempts=rnd.randint(1, 4), attempts_day=(due - dt.timedelta(days=1)).date(),
                       attempts_today=1, last_attempt_at=due - dt.timedelta(days=1),
                       outcome="appointment_hard" if hard else "appointment_soft", aapor="2.21",
                       reserved_for=rnd.choice(users) if hard else None,
                       reserved_until=due + dt.timedelta(minutes=15) if hard else None)
        elif rnd.random() < 0.7:
            outcome, aapor = rnd.choice(FINAL_OUTCOMES)
            row.update(state="final", tier=2, next_call_at=None, attempts=rnd.randint(1, 10),
                       last_attempt_at=naive_now - dt.timedelta(days=1), outcome=outcome, aapor=aapor)
        elif rnd.random() < 0.5:
            row.update(state="blocked", block_kind="dnc", block_reason="number is on the do-not-call list")
        else:
            row.update(state="blocked", block_kind="legal", block_reason="no documented consent")
        yield tuple(row[c] for c in COLUMNS)


def seed_cases(engine: Engine, study_id: int, zones: Sequence[int], count: int, now: dt.datetime, *,
               seed: int = 1, mix: Mix = Mix(), users: Sequence[int] = (), chunk: int = 50_000,
               not_before: dt.datetime | None = None) -> None:
    """Write ``count`` cases in bulk: PostgreSQL ``COPY``, SQLite ``executemany`` (one transaction)."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "postgresql":
            with cursor.copy(f"COPY cases ({', '.join(COLUMNS)}) FROM STDIN") as copy:
                for start in range(0, count, chunk):
                    for row in case_rows(study_id, zones, min(chunk, count - start), now, start=start, seed=seed,
                                         mix=mix, users=users, not_before=not_before):
                        copy.write_row(row)
        else:
            cursor.execute("PRAGMA cache_size = -262144")  # 256 MiB while the index grows in random order
            cursor.execute("BEGIN")
            marks = ", ".join("?" * len(COLUMNS))
            sql = f"INSERT INTO cases ({', '.join(COLUMNS)}) VALUES ({marks})"  # noqa: S608 (our own columns)
            for start in range(0, count, chunk):
                rows = [tuple(_sqlite_value(v) for v in row) for row in case_rows(
                    study_id, zones, min(chunk, count - start), now, start=start, seed=seed, mix=mix, users=users,
                    not_before=not_before)]
                cursor.executemany(sql, rows)
        raw.commit()
        if engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA cache_size = -2000")  # SQLite's default again, as the app runs
    finally:
        raw.close()


def _sqlite_value(value: Any) -> Any:
    """As SQLAlchemy's SQLite types store them (DateTime: 'YYYY-MM-DD HH:MM:SS.ffffff')."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def count_cases(engine: Engine, study_id: int) -> dict[str, int]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT state, tier, count(*) FROM cases WHERE study_id = :s "
                                       "GROUP BY state, tier"), {"s": study_id}).all()
    return {f"{state}/{tier}": n for state, tier, n in rows}


def reset_claims(engine: Engine, study_id: int) -> int:
    """Put every claimed case of the study back into the pool (between benchmark rounds)."""
    with Session(engine) as session, session.begin():
        return session.execute(
            Case.__table__.update().where(Case.study_id == study_id, Case.state == "claimed")
            .values(state="ready", claimed_by=None, claimed_at=None, heartbeat_at=None)).rowcount


# --------------------------------------------------------------------------- reporting


def percentiles(values: Sequence[float], points: Sequence[float] = (50, 90, 99)) -> dict[str, float]:
    """Nearest-rank percentiles (and max) of ``values``; empty input gives NaN."""
    if not values:
        return {**{f"p{p:g}": float("nan") for p in points}, "max": float("nan")}
    ordered = sorted(values)
    out = {}
    for p in points:
        rank = max(1, -(-len(ordered) * p // 100))
        out[f"p{p:g}"] = ordered[int(rank) - 1]
    out["max"] = ordered[-1]
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def load_average() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


def machine() -> str:
    return f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}, load {load_average()}"


def dump_json(path: str | None, data: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
