"""Export benchmark: 100,000 completed interviews of a 300-variable questionnaire.

Targets (issue): the .sav export takes at most 1.5x the time of ``pyreadstat.write_sav`` on the
finished DataFrame (measured in the same run) with peak memory at most 2x that DataFrame's size;
the .xlsx export takes at most 1.3x a bare openpyxl write-only loop over the same rows.

Printed: DataFrame build time (rows -> compact columns), the pyreadstat baseline, our .sav
export and its ratio, peak memory of the .sav export against the DataFrame size, .xlsx export
against the bare loop, and (for information) .zsav, CSV and Triple-S times.

Each measurement runs in its own subprocess so that its peak RSS is its own (the peak is reset
through ``/proc/self/clear_refs`` right before the measured call). Rows are the engine's row
format for a questionnaire compiled by the real compiler; 2,000 distinct random rows are cycled,
so generating them costs nothing in the timings.

    .venv/bin/python benchmarks/bench_exports.py [--rows 100000] [--skip-xlsx]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cati.exports import ExportInfo, build_dataset  # noqa: E402
from cati.exports.dataset import Dataset  # noqa: E402
from cati.questionnaires.compiler import load_questionnaire  # noqa: E402
from cati.questionnaires.engine import Engine  # noqa: E402
from cati.questionnaires.model import ExportVariable  # noqa: E402

POOL = 2000
SCALE = "[{code: 1, de: sehr gut}, {code: 2, de: gut}, {code: 3, de: mittel}, {code: 4, de: schlecht}, {code: 5, de: sehr schlecht}]"  # noqa: E501
BRANDS = ", ".join(f"{{code: {i}, de: Marke {i}}}" for i in range(1, 9))


def questionnaire_yaml() -> str:
    """About 300 export variables: singles, multis, grids, numbers, texts, dates, a loop."""
    lines = [
        "format: cati/1",
        "id: bench_export",
        "version: 3",
        "title: Export-Benchmark",
        "languages: [de]",
        "dispositions:",
        "  COMPLETE: 1",
        "  SO: {code: 2, aapor: '4.70'}",
        "sample:",
        "  - {name: region, type: single, options: [{code: 1, de: Nord}, {code: 2, de: Süd}]}",
        "  - {name: kundennr, type: text, pii: true}",
        "flow:",
    ]
    for n in range(1, 81):
        rnd = ", randomize: shuffle" if n % 10 == 0 else ""
        lines.append(f"  - {{id: E{n}, type: single, special: [DK, REF], text: 'E{n}?'{rnd}, options: {SCALE}}}")
    for n in range(1, 8):
        lines.append(
            f"  - {{id: M{n}, type: multi, special: [DK], randomize: shuffle, text: 'M{n}?', options: [{BRANDS}]}}"
        )
    for n in range(1, 11):
        rows = ", ".join(f"{{code: {r}, de: Aspekt {r}}}" for r in range(1, 11))
        lines.append(f"  - {{id: G{n}, type: grid, special: [DK], text: 'G{n}?', rows: [{rows}], options: {SCALE}}}")
    for n in range(1, 18):
        decimals = ", decimals: 2" if n <= 5 else ""
        top = 500 if n % 3 == 0 else 50
        lines.append(f"  - {{id: Z{n}, type: numeric, min: 0, max: {top}{decimals}, special: [DK], text: 'Z{n}?'}}")
    for n in range(1, 5):
        lines.append(f"  - {{id: N{n}, type: nps, special: [DK], text: 'N{n}?'}}")
    for n in range(1, 9):
        lines.append(f"  - {{id: O{n}, type: text, max_length: 200, special: [DK], text: 'O{n}?'}}")
    lines.append("  - {id: D1, type: date, text: 'D1?'}")
    lines.append("  - {id: D2, type: date, special: [DK], text: 'D2?'}")
    lines.append("  - {id: P1, type: text, max_length: 40, pii: true, text: 'Telefon?'}")
    return "\n".join(lines) + "\n"


def codebook() -> tuple[int, list[ExportVariable]]:
    q = load_questionnaire(questionnaire_yaml(), "bench_export.yaml")
    return q.version, Engine(q).codebook()


def random_row(rng: random.Random, variables: list[ExportVariable], n: int) -> dict[str, Any]:
    """A completed interview in the engine's export format (about 15 % of answers off-route)."""
    start = dt.datetime(2025, 3, 1, 9, 0) + dt.timedelta(minutes=7 * n)
    row: dict[str, Any] = {
        "resp_id": f"{rng.getrandbits(128):032x}",
        "disposition": 1,
        "q_version": 3,
        "lang": "de",
        "interviewer_id": f"iv{rng.randint(1, 40):03d}",
        "start_ts": start.isoformat(timespec="seconds") + "+01:00",
        "end_ts": (start + dt.timedelta(minutes=18)).isoformat(timespec="seconds") + "+01:00",
        "duration_s": 1080 + rng.randint(-300, 300),
        "n_soft_overrides": rng.randint(0, 2),
        "attempts": rng.randint(1, 8),
    }
    multis: dict[str, bool] = {}
    for v in variables:
        if v.kind == "paradata":
            continue
        if v.kind == "dichotomy":
            asked = multis.setdefault(v.mr_set or "", rng.random() > 0.15)
            row[v.name] = (
                (int(rng.random() < 0.3) if v.special is None else int(rng.random() < 0.03)) if asked else None
            )
            continue
        if rng.random() < 0.15 and v.question_id:
            row[v.name] = None  # off the route
            continue
        if v.missing and rng.random() < 0.05:
            row[v.name] = rng.choice(v.missing)
        elif v.kind == "order":
            codes = list(range(1, 9)) if v.name.startswith("M") else [1, 2, 3, 4, 5]
            rng.shuffle(codes)
            row[v.name] = ",".join(map(str, codes))
        elif v.spss_type == "numeric":
            if v.value_labels and v.measure != "scale":
                row[v.name] = rng.choice([c for c in v.value_labels if c not in v.missing])
            elif v.spss_format.endswith(".2"):
                row[v.name] = round(rng.uniform(0, 50), 2)
            else:
                row[v.name] = rng.randint(0, 10 if v.name.startswith("N") else 50)
        elif v.spss_type == "string":
            row[v.name] = " ".join(rng.choice(["gut", "Preis", "zu teuer", "Lieferung", "schnell", "Qualität"])
                                   for _ in range(rng.randint(1, 12)))  # fmt: skip
        elif v.spss_type == "date":
            row[v.name] = (dt.date(2024, 1, 1) + dt.timedelta(days=rng.randint(0, 400))).isoformat()
    return row


def rows(count: int, variables: list[ExportVariable]) -> Iterator[dict[str, Any]]:
    """``count`` rows cycled from a pool; every string is an object of its own (as rows read from the
    database would be), so the DataFrame's memory is what a real export holds."""
    rng = random.Random(7)
    pool = [random_row(rng, variables, n) for n in range(POOL)]
    texts = [v.name for v in variables if v.spss_type in ("string", "datetime") and v.name != "resp_id"]
    for n in range(count):
        row = dict(pool[n % POOL])
        row["resp_id"] = f"{n:036x}"
        for key in texts:
            value = row.get(key)
            if isinstance(value, str):
                row[key] = value.encode().decode()
        yield row


def make_dataset(count: int) -> Dataset:
    version, variables = codebook()
    info = ExportInfo(study="bench", title="Export-Benchmark", questionnaire_id="bench_export")
    return build_dataset({version: variables}, rows(count, variables), info=info)


# --------------------------------------------------------------------------- measuring


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def peak_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")


def measured(call: Any) -> dict[str, float]:
    gc.collect()
    before = rss_mb()
    reset_peak()
    start = time.perf_counter()
    cpu = time.process_time()
    call()
    cpu = time.process_time() - cpu
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "cpu": cpu, "extra_mb": peak_mb() - before, "peak_mb": peak_mb()}


def frame_mb(dataset: Dataset) -> float:
    return float(dataset.frame.memory_usage(deep=True, index=False).sum()) / 2**20


def child(kind: str, count: int, folder: Path) -> dict[str, Any]:
    import pyreadstat
    from openpyxl import Workbook

    from cati.exports import write
    from cati.exports.spss import sav_frame, sav_metadata

    if kind == "rows":
        version, variables = codebook()
        source = rows(count, variables)
        first = next(source)
        return {"seconds": measured(lambda: sum(1 for _ in source))["seconds"]}
    if kind == "build":
        version, variables = codebook()
        source = rows(count, variables)
        first = next(source)  # builds the pool outside the measurement
        holder: dict[str, Dataset] = {}

        def build() -> None:
            def again() -> Iterator[dict[str, Any]]:
                yield first
                yield from source

            holder["ds"] = build_dataset({version: variables}, again())

        result = measured(build)
        ds = holder["ds"]
        return {
            **result,
            "frame_mb": frame_mb(ds),
            "variables": len(ds.variables),
            "rows": ds.n_rows,
            "dtypes": {str(k): int(v) for k, v in ds.frame.dtypes.astype(str).value_counts().items()},
        }
    ds = make_dataset(count)
    gc.collect()
    out: dict[str, Any] = {"frame_mb": frame_mb(ds)}
    if kind == "sav-time":
        # alternate baseline and ours three times; keep the fastest of each (wall clock and CPU)
        metadata = sav_metadata(ds)
        base, meta, ours = [], [], []
        for _ in range(3):
            base.append(measured(lambda: pyreadstat.write_sav(ds.frame, str(folder / "base.sav"), row_compress=True)))
            meta.append(
                measured(
                    lambda: pyreadstat.write_sav(sav_frame(ds), str(folder / "meta.sav"), row_compress=True, **metadata)
                )
            )
            ours.append(measured(lambda: write(ds, "sav", folder / "ours.sav")))
        for key, runs in (("baseline", base), ("baseline_meta", meta), ("ours", ours)):
            out[key] = min(x["seconds"] for x in runs)
            out[f"{key}_cpu"] = min(x["cpu"] for x in runs)
        out["sav_mb"] = (folder / "ours.sav").stat().st_size / 2**20
    elif kind == "sav-memory":
        out.update(measured(lambda: write(ds, "sav", folder / "ours.sav")))
    elif kind == "baseline-memory":
        out.update(measured(lambda: pyreadstat.write_sav(ds.frame, str(folder / "base.sav"), row_compress=True)))
    elif kind == "others":
        out["zsav"] = measured(lambda: write(ds, "zsav", folder / "ours.zsav"))["seconds"]
        out["csv"] = measured(lambda: write(ds, "csv", folder / "ours.csv"))["seconds"]
        out["sss"] = measured(lambda: write(ds, "sss", folder / "ours.sss"))["seconds"]
    elif kind == "xlsx":
        materialised = list(ds.iter_rows())  # the same rows, prepared outside the measurement
        gc.freeze()  # keep the collector from walking 30 M prepared values during the bare loop

        def bare() -> None:
            workbook = Workbook(write_only=True)
            sheet = workbook.create_sheet("Daten")
            sheet.append(ds.names)
            for row in materialised:
                sheet.append(row)
            workbook.save(folder / "bare.xlsx")

        result = measured(bare)
        out["bare"], out["bare_cpu"] = result["seconds"], result["cpu"]
        gc.unfreeze()
        del materialised
        gc.collect()
        result = measured(lambda: write(ds, "xlsx", folder / "ours.xlsx"))
        out["ours"], out["ours_cpu"] = result["seconds"], result["cpu"]
        out["ours_extra_mb"] = result["extra_mb"]
    return out


def run_child(kind: str, count: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        result = subprocess.run(
            [sys.executable, __file__, "--child", kind, "--rows", str(count), "--dir", folder],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--skip-xlsx", action="store_true", help="leave out the (slow) Excel comparison")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.rows, Path(args.dir))))
        return
    load = os.getloadavg()
    print(
        f"export benchmark: {args.rows:,} completed interviews; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    build = run_child("build", args.rows)
    print(
        f"dataset: {build['variables']} variables, {build['rows']:,} rows, DataFrame {build['frame_mb']:.1f} MiB "
        f"({', '.join(f'{k} {v}' for k, v in sorted(build['dtypes'].items()))})"
    )
    generation = run_child("rows", args.rows)["seconds"]
    print(
        f"  build (rows -> compact columns): {build['seconds']:.2f} s (CPU {build['cpu']:.2f} s) including "
        f"{generation:.2f} s to generate the rows; peak +{build['extra_mb']:.0f} MiB "
        f"= {build['extra_mb'] / build['frame_mb']:.2f}x the DataFrame"
    )
    sav = run_child("sav-time", args.rows)
    print("  (wall clock / CPU time, best of 3 alternating runs)")
    print(
        f"  pyreadstat.write_sav baseline (row-compressed, no metadata): {sav['baseline']:.2f} s / "
        f"{sav['baseline_cpu']:.2f} s"
    )
    print(
        f"  pyreadstat.write_sav of our frame with our metadata:         {sav['baseline_meta']:.2f} s / "
        f"{sav['baseline_meta_cpu']:.2f} s"
    )
    wall, cpu = sav["ours"] / sav["baseline"], sav["ours_cpu"] / sav["baseline_cpu"]
    print(f"  our .sav export (+ .sps):                                    {sav['ours']:.2f} s / "
          f"{sav['ours_cpu']:.2f} s = {wall:.2f}x / {cpu:.2f}x baseline (target <= 1.5x), "
          f"file {sav['sav_mb']:.0f} MiB")  # fmt: skip
    ours_memory = run_child("sav-memory", args.rows)
    base_memory = run_child("baseline-memory", args.rows)
    frame = ours_memory["frame_mb"]
    print(
        f"  .sav peak memory: DataFrame {frame:.1f} MiB + export {ours_memory['extra_mb']:.1f} MiB "
        f"= {(frame + ours_memory['extra_mb']) / frame:.2f}x the DataFrame (target <= 2x); "
        f"baseline adds {base_memory['extra_mb']:.1f} MiB; process peak {ours_memory['peak_mb']:.0f} MiB"
    )
    others = run_child("others", args.rows)
    print(f"  .zsav {others['zsav']:.2f} s, CSV + codebook {others['csv']:.2f} s, Triple-S {others['sss']:.2f} s")
    if not args.skip_xlsx:
        xlsx = run_child("xlsx", args.rows)
        print(f"  bare openpyxl write-only loop (wall / CPU): {xlsx['bare']:.1f} s / {xlsx['bare_cpu']:.1f} s")
        print(f"  our .xlsx export (data, codebook, info):    {xlsx['ours']:.1f} s / {xlsx['ours_cpu']:.1f} s "
              f"= {xlsx['ours'] / xlsx['bare']:.2f}x / {xlsx['ours_cpu'] / xlsx['bare_cpu']:.2f}x "
              f"(target <= 1.3x), peak +{max(0.0, xlsx['ours_extra_mb']):.0f} MiB")  # fmt: skip
    load = os.getloadavg()
    print(f"load average after: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
