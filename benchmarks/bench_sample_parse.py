"""Micro-benchmark: parse + validate a generated sample CSV with ``read_sample``.

Usage: ``.venv/bin/python benchmarks/bench_sample_parse.py [ROWS]`` (default 100,000). Prints rows/s;
no assertions. The file mixes landlines and mobiles in several notations, states, postcodes,
consent dates and two sample fields, like a real customer list (semicolon-separated, UTF-8).
"""

from __future__ import annotations

import random
import sys
import tempfile
import time
from pathlib import Path

from cati.sampling.reader import read_sample

STATES = ["NW", "BY", "Berlin", "Hessen", "", "Sachsen", "BW", "Niedersachsen"]
AREAS = ["30", "89", "40", "221", "69", "711", "341", "511"]


def generate(path: Path, rows: int, seed: int = 1) -> None:
    rnd = random.Random(seed)
    used: set[int] = set()
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("id;phone;name;state;postcode;customer;consent_at;person_type;segment;revenue\n")
        for i in range(rows):
            while True:
                local = rnd.randint(1_000_000, 9_999_999)
                if local not in used:
                    used.add(local)
                    break
            if i % 3 == 0:
                phone = f"0171/{local}"
            elif i % 3 == 1:
                phone = f"0{AREAS[i % len(AREAS)]} {local}"
            else:
                phone = f"+49 (0){AREAS[i % len(AREAS)]} {local}"
            consent = f"2024-0{1 + i % 9}-1{i % 10}" if i % 2 else ""
            out.write(
                f"C{i};{phone};Kontakt Müller {i};{STATES[i % len(STATES)]};{10000 + i % 89999:05d};"
                f"{'yes' if i % 5 == 0 else 'no'};{consent};{'business' if i % 4 == 0 else 'private'};"
                f"S{i % 7};{rnd.randint(0, 99999)}\n"
            )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sample.csv"
        generate(path, rows)
        size = path.stat().st_size
        start, cpu_start = time.perf_counter(), time.process_time()
        result = read_sample(path, filename=path.name)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(
        f"{rows:,} rows ({size / 1e6:.1f} MB) in {elapsed:.2f} s = {rows / elapsed:,.0f} rows/s "
        f"(CPU {cpu:.2f} s = {rows / cpu:,.0f} rows/s); "
        f"valid {result.valid:,}, problems {len(result.problems):,}, duplicates {len(result.duplicates):,}, "
        f"encoding {result.encoding}, delimiter {result.delimiter!r}"
    )


if __name__ == "__main__":
    main()
