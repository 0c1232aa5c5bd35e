"""Rows from random simulated interviews, and helpers to compare written files with a dataset."""

from __future__ import annotations

import datetime as dt
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from cati.exports import ExportInfo, build_dataset
from cati.exports.dataset import Dataset
from cati.questionnaires.compiler import load_file
from cati.questionnaires.engine import Ended, Engine, OfflineQuotaGate
from cati.questionnaires.model import Questionnaire
from cati.questionnaires.simulate import RandomRespondent

ROOT = Path(__file__).resolve().parents[3]
EXAMPLES = ROOT.parent / "shared" / "specs" / "examples"
QUESTIONNAIRES = {
    "ebike": EXAMPLES / "ebike_abo_konzept.yaml",
    "haustech": EXAMPLES / "haustech_nachkauf.yaml",
    "kundendienst": ROOT / "questionnaires" / "kundendienst_zufriedenheit.yaml",
    "lieferdienst": ROOT / "questionnaires" / "lieferdienst_nachfrage.yaml",
}
BERLIN = ZoneInfo("Europe/Berlin")
START = dt.datetime(2025, 3, 29, 22, 30, tzinfo=BERLIN)  # the night clocks go forward: offsets change
TRICKY = [
    'Grüße, "Zitat" & <tag> ; a=b',
    "=SUMME(A1:A3)",
    "zwei\nZeilen",
    "#N/A",
    "Straße 5 – ½ €",
    "x\x0by",
]


def load(name: str) -> Questionnaire:
    return load_file(QUESTIONNAIRES[name])


def simulate(engine: Engine, count: int, seed: int) -> Iterator[dict[str, Any]]:
    """``count`` random interviews as export rows (``Engine.export_row`` plus ``attempts``).

    Interviews end early now and then (break-off: no disposition, no end time); some text answers
    are replaced by strings that need escaping in CSV, XML and Excel.
    """
    rng = random.Random(seed)
    respondent = RandomRespondent(engine, rng)
    for n in range(count):
        gate = OfflineQuotaGate(set())
        now = START + dt.timedelta(minutes=17 * n)
        state = engine.start(rng.randrange(2**31), respondent.sample(), None, "Sim", now=now, gate=gate)
        steps = rng.choice([3, 400, 400, 400])
        for _ in range(steps):
            screen = engine.screen(state)
            if isinstance(screen, Ended):
                break
            if screen.type == "info":
                engine.forward(state, now=now, gate=gate)
                continue
            now += dt.timedelta(seconds=rng.randint(5, 90))
            for _attempt in range(40):
                value = respondent.valid(screen)
                result = engine.answer(
                    state, screen.key, value, others=respondent.others(screen, value), confirm_soft=range(9),
                    now=now, gate=gate,
                )  # fmt: skip
                if result.accepted:
                    break
            else:
                break
        row = engine.export_row(state, {"resp_id": f"R{seed}-{n:05d}", "interviewer_id": f"iv{n % 7}"})
        row["attempts"] = rng.randint(1, 9)
        for variable in engine.codebook():
            text_answer = variable.spss_type == "string" and variable.kind == "value"
            if text_answer and row.get(variable.name) is not None and rng.random() < 0.3:
                text = rng.choice(TRICKY)
                if len(text.encode()) <= (variable.width or 0):
                    row[variable.name] = text
        yield row


def dataset(name: str, count: int = 120, seed: int = 1, **options: Any) -> tuple[Dataset, list[dict[str, Any]]]:
    q = load(name)
    engine = Engine(q)
    rows = list(simulate(engine, count, seed))
    info = ExportInfo(
        study=f"{q.id}-2025",
        title=q.title.raw[q.default_language],
        questionnaire_id=q.id,
        filters={"Disposition": "alle"},
    )
    return build_dataset({q.version: engine.codebook()}, iter(rows), info=info, **options), rows


def same(a: Any, b: Any) -> bool:
    """Equality that treats NaN/None as equal and compares numbers numerically."""
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return b is None or (isinstance(b, float) and math.isnan(b))
    if b is None or (isinstance(b, float) and math.isnan(b)):
        return False
    return a == b


def expected_value(variable: Any, raw: Any) -> Any:
    """What the dataset must hold for the engine's ``raw`` value (the row contract)."""
    if raw is None:
        return None
    if variable.spss_type == "datetime":
        return dt.datetime.fromisoformat(raw[:19]) if isinstance(raw, str) else raw
    if variable.spss_type == "date":
        if isinstance(raw, int):
            return raw
        return dt.date.fromisoformat(raw) if isinstance(raw, str) else raw
    if variable.spss_type == "string":
        return raw if isinstance(raw, str) else str(raw)
    return raw
