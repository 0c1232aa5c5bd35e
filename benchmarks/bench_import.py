"""Sample import through the real service: 100,000 (and with ``--million`` 1,000,000) rows.

Targets (issue): 100k rows < 15 s, 1M rows < 150 s on this machine. The CSV looks like a CRM
export for a customer-satisfaction study (``questionnaires/kundendienst_zufriedenheit.yaml``):
semicolon-separated UTF-8, landlines and mobiles in mixed notations, states and postcodes,
documented consent for private customers, the questionnaire's seven sample fields. Each import runs
``import_sample`` in one transaction (committed) into a fresh database: SQLite (file, WAL, as the
app configures it) and a private PostgreSQL. ``read only`` is ``read_sample`` alone, for
comparison. Every measurement runs in its own process so that its peak RSS is its own.

    .venv/bin/python benchmarks/bench_import.py                 # 100k rows, both databases
    .venv/bin/python benchmarks/bench_import.py --million       # also 1M rows
    .venv/bin/python benchmarks/bench_import.py --rows 20000 --db sqlite
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    DATABASES,
    create_field_study,
    database,
    dump_json,
    load_average,
    machine,
    make_engine,
    parse_sizes,
    peak_rss_mb,
    size_label,
)

STATES = ["NW", "BY", "Berlin", "Hessen", "", "Sachsen", "BW", "Niedersachsen", "HH", "Thüringen"]
AREAS = ["30", "89", "40", "221", "69", "711", "341", "511", "421", "361"]
MOBILES = ["151", "176", "157", "171"]  # 8-digit subscriber numbers
TARIFS = ["Nordhafen Strom Basis", "Nordhafen Strom Öko", "Nordhafen Wärme Komfort", "Nordhafen Gas Fix 24"]
HEADER = ("id;phone;name;state;postcode;person_type;customer;consent_at;consent_source;anrede;kundennummer;"
          "kontaktgrund;kontaktdatum;kanal;tarif;kontakt_tel\n")


def generate(path: Path, rows: int) -> None:
    """A CRM export with ``rows`` distinct numbers (a permutation of 7-digit subscriber numbers)."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for i in range(rows):
            local = 1_000_000 + (i * 7_919 + 12_345) % 9_000_000
            kind = i % 3
            if kind == 0:
                phone = f"0{MOBILES[i % len(MOBILES)]}/{local}{i % 10}"
            elif kind == 1:
                phone = f"0{AREAS[i % len(AREAS)]} {local}"
            else:
                phone = f"+49 (0){AREAS[i % len(AREAS)]} {local}"
            business = i % 25 == 0
            consent = "" if business else f"2026-0{1 + i % 9}-1{i % 10}T1{i % 10}:30:00+01:00"
            out.write(
                f"KD-{i:07d};{phone};Kundin Müller {i};{STATES[i % len(STATES)]};{10000 + i % 89999:05d};"
                f"{'business' if business else 'private'};yes;{consent};{'' if business else 'Kundenportal Opt-in'};"
                f"{1 + i % 3};{4000000000 + i};{1 + i % 5};2026-10-{1 + i % 28:02d};{1 + i % 3};"
                f"{TARIFS[i % len(TARIFS)]};{phone}\n"
            )


def child(what: str, path: Path) -> dict[str, object]:
    """One measurement, in this (fresh) process."""
    from cati.cli.progress import Progress

    rows = sum(1 for _ in path.open(encoding="utf-8")) - 1
    progress = Progress(f"{what} {path.name}")
    if what == "read":
        from cati.sampling.reader import read_sample

        started, cpu = time.perf_counter(), time.process_time()
        try:
            result = read_sample(path, filename=path.name, progress=progress)
        finally:
            progress.close()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return {"what": "read only", "rows": rows, "seconds": elapsed, "cpu": cpu, "imported": result.valid,
                "rss_mb": peak_rss_mb()}
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from cati.models import Case, Study
    from cati.services.sample_import import import_sample

    with database(what) as url:
        engine = make_engine(url)
        try:
            study_id, _ = create_field_study(engine, slug="import", questionnaire="kundendienst_zufriedenheit.yaml",
                                             purpose="customer_satisfaction", interviewers=1)
            baseline = peak_rss_mb()
            started, cpu = time.perf_counter(), time.process_time()
            with Session(engine) as session, session.begin():
                try:
                    report = import_sample(session, session.get(Study, study_id), path, filename=path.name,
                                           progress=progress)
                finally:
                    progress.close()
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
            with Session(engine) as session:
                stored = session.scalar(select(func.count()).select_from(Case))
            if not report.committed:
                raise SystemExit("\n".join(report.lines()[:20]))
            return {"what": what, "rows": rows, "seconds": elapsed, "cpu": cpu, "imported": report.imported,
                    "blocked": report.blocked, "stored": stored, "rss_mb": peak_rss_mb(), "rss_before_mb": baseline}
        finally:
            engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", default=None, help="comma-separated sizes (default 100k; with --million 100k,1M)")
    parser.add_argument("--million", action="store_true", help="also import 1,000,000 rows")
    parser.add_argument("--db", default=",".join(DATABASES), help="sqlite, postgresql or both (default)")
    parser.add_argument("--no-read", action="store_true", help="skip the reader-only measurement")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--child", nargs=2, metavar=("WHAT", "CSV"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    sizes = parse_sizes(args.rows or ("100k,1M" if args.million else "100k"))
    whats = ([] if args.no_read else ["read"]) + [d.strip() for d in args.db.split(",") if d.strip()]
    print(f"sample import ({machine()})")
    print(f"{'rows':>6} {'what':<11} {'seconds':>8} {'cpu s':>7} {'rows/s':>9} {'imported':>9} {'peak RSS':>9}")
    results = []
    with tempfile.TemporaryDirectory(prefix="cati-bench-import-") as tmp:
        for size in sizes:
            path = Path(tmp) / f"sample_{size_label(size)}.csv"
            generate(path, size)
            for what in whats:
                done = subprocess.run([sys.executable, __file__, "--child", what, str(path)], check=True,
                                      stdout=subprocess.PIPE, text=True)
                result = json.loads(done.stdout.strip().splitlines()[-1])
                results.append(result)
                print(f"{size_label(size):>6} {result['what']:<11} {result['seconds']:>8.2f} {result['cpu']:>7.2f} "
                      f"{size / result['seconds']:>9,.0f} {result['imported']:>9,} {result['rss_mb']:>7.0f} MB",
                      flush=True)
    print(f"targets: 100k < 15 s, 1M < 150 s; load average at the end: {load_average()}")
    dump_json(args.json, results)


if __name__ == "__main__":
    main()
