"""Engine benchmark: compile time and per-step next-screen time on a 2,000-question questionnaire.

The target (issue): median < 1 ms and p99 < 5 ms per step, the same at the start, in the middle
and at the end of the interview, because the route is kept incrementally (a step costs the
nodes it skips, not the length of the interview so far). This prints figures only; no test
asserts timings (CI machines vary).

    .venv/bin/python benchmarks/bench_engine.py [--questions 2000] [--interviews 5]
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from synthetic_questionnaire import synthetic_questionnaire

from cati.questionnaires.compiler import load_questionnaire
from cati.questionnaires.engine import Ended, Engine
from cati.questionnaires.render import Screen
from cati.questionnaires.state import State


def answer_for(screen: Screen) -> object:
    """A deterministic valid answer that keeps most of the route (first visible options)."""
    if screen.type == "single":
        return screen.options[1].code if len(screen.options) > 1 else screen.options[0].code
    if screen.type == "multi":
        return [o.code for o in screen.options[:2]]
    if screen.type == "grid":
        return {row.code: screen.options[0].code for row in screen.rows}
    if screen.type in ("numeric", "nps"):
        return 42
    if screen.type == "text":
        return "Antwort"
    return None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run_interview(engine: Engine, seed: int) -> tuple[list[float], list[float], State]:
    """Wall-clock and CPU seconds per step (answer + next screen) for one complete interview."""
    state = engine.start(seed, {})
    wall, cpu = [], []
    screen = engine.screen(state)
    while isinstance(screen, Screen):
        value = answer_for(screen)
        cpu_start = time.thread_time()
        start = time.perf_counter()
        result = engine.answer(state, screen.key, value, confirm_soft=(0, 1))
        wall.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - cpu_start)
        assert result.accepted, result
        screen = result.screen
    assert isinstance(screen, Ended)
    return wall, cpu, state


def report(title: str, steps: list[list[float]]) -> None:
    length = min(len(t) for t in steps)
    window = max(1, min(200, length // 5))
    parts = {
        "start": slice(0, window),
        "middle": slice(length // 2 - window // 2, length // 2 + window // 2 + 1),
        "end": slice(length - window, length),
    }
    print(f"{title} ({window}-step windows):")
    for name, part in parts.items():
        sample = [t for times in steps for t in times[part]]
        print(
            f"  next screen at the {name:<6}: median {statistics.median(sample) * 1000:6.3f} ms"
            f"   p99 {percentile(sample, 0.99) * 1000:6.3f} ms   max {max(sample) * 1000:6.3f} ms"
        )
    everything = [t for times in steps for t in times]
    print(
        f"  all steps:                median {statistics.median(everything) * 1000:6.3f} ms"
        f"   p99 {percentile(everything, 0.99) * 1000:6.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=int, default=2000)
    parser.add_argument("--interviews", type=int, default=5)
    args = parser.parse_args()

    text = synthetic_questionnaire(args.questions)
    start = time.perf_counter()
    questionnaire = load_questionnaire(text, "synthetic.yaml")
    compiled = time.perf_counter() - start
    start = time.perf_counter()
    engine = Engine(questionnaire)
    indexed = time.perf_counter() - start
    print(f"questionnaire: {args.questions} questions, {len(text) // 1024} KiB of YAML, {len(engine.flow.nodes)} nodes")
    print(f"compile (check + compile YAML): {compiled * 1000:8.1f} ms")
    print(f"engine index:                   {indexed * 1000:8.1f} ms")

    gc.collect()  # the compiler's garbage would otherwise be collected during the first steps
    runs = [run_interview(engine, seed) for seed in range(args.interviews)]
    print(f"interviews: {args.interviews}, screens per interview: {min(len(w) for w, _, _ in runs)}")
    # Wall-clock includes the OS preempting us on a busy machine; CPU time is the engine's own cost.
    report("wall-clock", [wall for wall, _, _ in runs])
    report("CPU time", [cpu for _, cpu, _ in runs])
    print("  (the last step of each interview re-runs every check on the route: the completion re-check)")

    state = runs[0][2]
    start = time.perf_counter()
    stored = json.dumps(state.to_dict())
    dumped = time.perf_counter() - start
    start = time.perf_counter()
    State.from_dict(json.loads(stored))
    loaded = time.perf_counter() - start
    engine.codebook()
    start = time.perf_counter()
    engine.export_row(state)
    exported = time.perf_counter() - start
    print(
        f"state at the end: {len(stored) // 1024} KiB JSON; to_dict+dumps {dumped * 1000:.2f} ms,"
        f" loads+from_dict {loaded * 1000:.2f} ms; export_row {exported * 1000:.2f} ms"
    )


if __name__ == "__main__":
    main()
