"""Offline interviews through the real engine: scripted (``cati simulate --answers``) and random
(``cati simulate --random``), questionnaire-format §10.

Why: researchers test routing before fieldwork. A scripted run proves that a given respondent
takes exactly the expected path and produces exactly the expected data row; random runs find
questions, options and ends that no respondent can reach and show which checks fire. Both drive
:class:`~cati.questionnaires.engine.Engine` exactly as the interviewer screen does, so what passes
here behaves the same in the field. No argparse here: the CLI wrapper is ``cati.cli.simulate``.
"""

from __future__ import annotations

import datetime as dt
import random
import string
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import model
from .engine import Ended, Engine, OfflineQuotaGate, Result
from .render import Screen
from .state import State
from .validate import special_name


class SimulationError(Exception):
    """A scripted run that cannot go on; ``exit_code`` is what ``cati simulate`` returns."""

    exit_code = 1


class MissingAnswer(SimulationError):
    """A question on the route has no scripted answer (exit 2)."""

    exit_code = 2

    def __init__(self, key: str) -> None:
        super().__init__(f"no scripted answer for {key}, which is on the route")
        self.key = key


class RefusedAnswer(SimulationError):
    """A scripted answer refused by a hard check (exit 3)."""

    exit_code = 3

    def __init__(self, key: str, result: Result) -> None:
        lines = [message.describe() for message in (*result.errors, *result.soft)]
        super().__init__(f"the scripted answer to {key} was refused: " + "; ".join(lines))
        self.key = key
        self.result = result


def parse_full(cells: Iterable[str]) -> set[tuple[str, str]]:
    """``["alter_geschlecht.m_18_44"]`` -> ``{("alter_geschlecht", "m_18_44")}``."""
    full = set()
    for cell in cells:
        quota, dot, cell_id = cell.partition(".")
        if not dot or not quota or not cell_id:
            raise ValueError(f"--full expects QUOTA.CELL, got {cell!r}")
        full.add((quota, cell_id))
    return full


def check_full(questionnaire: model.Questionnaire, full: Iterable[tuple[str, str]]) -> list[str]:
    """Problems with ``--full`` cells that the questionnaire does not define."""
    cells = {(q.id, c.id) for q in questionnaire.quotas for c in q.cells}
    return [f"--full {quota}.{cell}: no such quota cell" for quota, cell in sorted(full) if (quota, cell) not in cells]


# -- scripted runs ---------------------------------------------------------------------------
@dataclass
class SimulationResult:
    status: str
    disposition: str
    disposition_code: int
    path: list[str]
    data: dict[str, Any]
    unused: list[str] = field(default_factory=list)
    state: State | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "disposition": self.disposition,
            "disposition_code": self.disposition_code,
            "path": self.path,
            "data": self.data,
        }


def _scripted_value(script: Mapping[str, Any], screen: Screen) -> tuple[Any, dict[str, Any], set[str]]:
    """The answer, specify texts and used script keys for ``screen``."""
    used = set()
    if screen.type == "grid":
        given = script.get(screen.key)
        value: dict[Any, Any] = {}
        if isinstance(given, Mapping):
            used.add(screen.key)
            value.update(given)
        for row in screen.rows:
            if row.key in script:
                used.add(row.key)
                value[row.code] = script[row.key]
            elif row.code not in value and str(row.code) not in value:
                raise MissingAnswer(row.key)
        return value, {}, used
    if screen.key not in script:
        raise MissingAnswer(screen.key)
    used.add(screen.key)
    value = script[screen.key]
    chosen = {str(code) for code in (value if isinstance(value, list) else [value])}
    others = {}
    for option in screen.options:
        if option.other_key is None:
            continue
        if option.other_key in script:
            used.add(option.other_key)
            others[option.other_key] = script[option.other_key]
        elif screen.required and str(option.code) in chosen:
            # As the engine: a specify text is required only when its question is.
            raise MissingAnswer(option.other_key)
    return value, others, used


def run_script(
    engine: Engine,
    answers: Mapping[str, Any],
    *,
    sample: Mapping[str, Any] | None = None,
    lang: str | None = None,
    seed: int = 0,
    full: Iterable[tuple[str, str]] = (),
    now: dt.datetime | None = None,
    interviewer: str | None = None,
) -> SimulationResult:
    """One interview answering every screen from ``answers``; soft checks are confirmed."""
    gate = OfflineQuotaGate(full)
    state = engine.start(seed, sample or {}, lang, interviewer, now=now, gate=gate)
    used: set[str] = set()
    answered: set[str] = set()
    while True:
        screen = engine.screen(state)
        if isinstance(screen, Ended):
            break
        if screen.type == "info":
            engine.forward(state, now=now, gate=gate)
            continue
        if screen.key in answered:  # the completion re-check sent us back: nothing new to try
            raise RefusedAnswer(screen.key, Result(False, screen, tuple(screen.errors)))
        answered.add(screen.key)
        value, others, keys = _scripted_value(answers, screen)
        used |= keys
        confirm = range(len(engine.flow.questions[screen.node_id].checks))
        result = engine.answer(state, screen.key, value, others=others, confirm_soft=confirm, now=now, gate=gate)
        if not result.accepted:
            raise RefusedAnswer(screen.key, result)
    ended = engine.screen(state)
    assert isinstance(ended, Ended)
    return SimulationResult(
        status=ended.status,
        disposition=ended.disposition,
        disposition_code=ended.code,
        path=engine.path(state),
        data=engine.export_row(state),
        unused=sorted(set(answers) - used),
        state=state,
    )


# -- random runs -----------------------------------------------------------------------------
@dataclass
class Coverage:
    """What N random interviews reached; the basis of the ``--random`` report."""

    questionnaire: model.Questionnaire
    interviews: int = 0
    seed: int = 0
    dispositions: Counter[str] = field(default_factory=Counter)
    reached: set[str] = field(default_factory=set)  # question and info node ids
    chosen: dict[str, set[Any]] = field(default_factory=dict)  # question id -> codes (grids: scale codes)
    ends: set[str] = field(default_factory=set)  # end node ids that fired, "flow end" for no end node
    checks: Counter[tuple[str, int | str, str]] = field(default_factory=Counter)  # (question, check, severity)
    stuck: Counter[str] = field(default_factory=Counter)

    def report(self) -> dict[str, Any]:
        flow = Engine(self.questionnaire).flow
        questions = [info.node for info in flow.nodes if isinstance(info.node, model.Question | model.Info)]
        never_questions = [
            n.id
            for n in questions
            if n.id not in self.reached and not (isinstance(n, model.Question) and n.type == "computed")
        ]
        never_options: dict[str, list[int]] = {}
        for node in questions:
            if not isinstance(node, model.Question) or node.id not in self.reached or not node.options:
                continue
            if node.type not in ("single", "multi", "grid"):
                continue
            missing = [o.code for o in node.options if o.code not in self.chosen.get(node.id, set())]
            if missing:
                never_options[node.id] = missing
        ends = [info.node for info in flow.nodes if isinstance(info.node, model.End)]
        never_ends = [f"{e.id} ({e.disposition})" for e in ends if e.id not in self.ends]
        explicit = []
        implicit = []
        for (question, check, severity), count in sorted(self.checks.items(), key=lambda kv: (kv[0][0], str(kv[0][1]))):
            number = check + 1 if isinstance(check, int) else check  # explicit checks counted from 1
            item = {"question": question, "check": number, "severity": severity, "count": count}
            (explicit if isinstance(check, int) else implicit).append(item)
        fired = {(item["question"], item["check"]) for item in explicit}
        never_fired = [
            {"question": q.id, "check": c.index + 1, "severity": c.severity}
            for q in flow.questions.values()
            for c in q.checks
            if (q.id, c.index + 1) not in fired
        ]
        return {
            "interviews": self.interviews,
            "seed": self.seed,
            "dispositions": dict(sorted(self.dispositions.items())),
            "never_reached": {"questions": never_questions, "options": never_options, "ends": never_ends},
            "checks_fired": explicit,
            "checks_never_fired": never_fired,
            "implicit_checks_fired": implicit,
            "stuck": dict(sorted(self.stuck.items())),
        }


def format_report(report: Mapping[str, Any]) -> str:
    """The ``--random`` report as text for a terminal."""
    lines = [f"{report['interviews']} random interviews (seed {report['seed']})"]
    lines.append("dispositions: " + ", ".join(f"{k} {v}" for k, v in report["dispositions"].items()))
    never = report["never_reached"]
    lines.append("questions never reached: " + (", ".join(never["questions"]) or "none"))
    options = never["options"]
    lines.append(
        "options never chosen: "
        + ("; ".join(f"{q}: {', '.join(map(str, codes))}" for q, codes in options.items()) or "none")
    )
    lines.append("ends never reached: " + (", ".join(never["ends"]) or "none"))
    if report["checks_fired"]:
        lines.append("checks fired:")
        for item in report["checks_fired"]:
            lines.append(f"  {item['question']} check {item['check']} ({item['severity']}): {item['count']}x")
    else:
        lines.append("checks fired: none")
    if report["checks_never_fired"]:
        lines.append(
            "checks never fired: "
            + ", ".join(f"{item['question']} check {item['check']}" for item in report["checks_never_fired"])
        )
    implicit: Counter[str] = Counter()
    for item in report["implicit_checks_fired"]:
        implicit[item["check"]] += item["count"]
    if implicit:
        lines.append("implicit checks fired: " + ", ".join(f"{k} {v}x" for k, v in sorted(implicit.items())))
    if report["stuck"]:
        lines.append(
            "interviews stuck (no valid random answer found): "
            + ", ".join(f"{k} {v}x" for k, v in report["stuck"].items())
        )
    return "\n".join(lines)


class RandomRespondent:
    """Random but mostly valid answers; sometimes specials, invalid entries and back jumps.

    Half of the single choices go to the option this respondent has picked least often so far
    (over all its interviews), so that a few hundred runs cover every reachable option.
    """

    def __init__(self, engine: Engine, rng: random.Random) -> None:
        self.engine = engine
        self.rng = rng
        self.picks: dict[str, Counter[int]] = {}

    def _pick(self, screen: Screen) -> int:
        counts = self.picks.setdefault(screen.node_id, Counter())
        if self.rng.random() < 0.5:
            code = min(screen.options, key=lambda o: (counts[o.code], self.rng.random())).code
        else:
            code = self.rng.choice(screen.options).code
        counts[code] += 1
        return code

    def sample(self) -> dict[str, Any]:
        rng = self.rng
        values: dict[str, Any] = {}
        today = dt.date.today()
        for sample_field in self.engine.questionnaire.sample:
            if sample_field.type == "single":
                codes = [o.code for o in sample_field.options]
                values[sample_field.name] = rng.choice(codes) if codes else None
            elif sample_field.type == "numeric":
                values[sample_field.name] = rng.randint(0, 100)
            elif sample_field.type == "date":
                values[sample_field.name] = (today - dt.timedelta(days=rng.randint(1, 720))).isoformat()
            else:
                values[sample_field.name] = rng.choice(["Muster", "Beispiel GmbH", "0301234567", "A-100"])
        return values

    def valid(self, screen: Screen) -> Any:
        """A random answer that passes the implicit checks (explicit ones may still refuse it)."""
        rng = self.rng
        if screen.specials and rng.random() < 0.06:
            return rng.choice(screen.specials).name
        kind = screen.type
        if kind == "single":
            return self._pick(screen) if screen.options else self._special_or_none(screen)
        if kind == "multi":
            return self._multi(screen)
        if kind == "grid":
            return {row.code: self._grid_cell(screen) for row in screen.rows}
        if kind in ("numeric", "nps"):
            return self._number(screen)
        if kind == "date":
            return self._date(screen)
        if kind == "text":
            return self._text(screen)
        return None

    def _special_or_none(self, screen: Screen) -> Any:
        return screen.specials[0].name if screen.specials else None

    def _grid_cell(self, screen: Screen) -> Any:
        if screen.specials and self.rng.random() < 0.05:
            return self.rng.choice(screen.specials).name
        return self._pick(screen) if screen.options else None

    def _multi(self, screen: Screen) -> Any:
        rng = self.rng
        options = list(screen.options)
        if not options:
            return self._special_or_none(screen)
        exclusive = [o for o in options if o.exclusive]
        if exclusive and rng.random() < 0.2:
            return [rng.choice(exclusive).code]
        normal = [o for o in options if not o.exclusive] or options
        low = max(1, screen.min_choices or 1)
        high = min(len(normal), screen.max_choices or len(normal))
        if high < low:
            return [rng.choice(options).code]
        count = rng.randint(low, high)
        return [o.code for o in rng.sample(normal, count)]

    def _number(self, screen: Screen) -> Any:
        rng = self.rng
        low = screen.min if screen.min is not None else 0
        high = screen.max if screen.max is not None else max(low, 0) + 100
        if screen.decimals:
            scale = 10**screen.decimals
            return rng.randint(int(low * scale), int(high * scale)) / scale
        import math

        return rng.randint(math.ceil(low), math.floor(high)) if math.ceil(low) <= math.floor(high) else int(low)

    def _date(self, screen: Screen) -> Any:
        rng = self.rng
        today = dt.date.today()
        low = dt.date.fromisoformat(screen.min_date) if screen.min_date else today - dt.timedelta(days=3650)
        high = dt.date.fromisoformat(screen.max_date) if screen.max_date else today
        if high < low:
            return low.isoformat()
        return (low + dt.timedelta(days=rng.randint(0, (high - low).days))).isoformat()

    def _text(self, screen: Screen) -> Any:
        rng = self.rng
        limit = max(1, min(screen.max_length or 40, 40))
        if screen.default and rng.random() < 0.5:
            return screen.default
        kind = rng.random()
        if kind < 0.45:
            return "".join(rng.choice(string.digits) for _ in range(rng.randint(1, limit)))
        if kind < 0.6:
            return "+49 " + "".join(
                rng.choice(string.digits) for _ in range(max(0, min(limit - 4, rng.randint(6, 12))))
            )
        return "".join(rng.choice(string.ascii_lowercase + " ") for _ in range(rng.randint(1, limit))).strip() or "x"

    def invalid(self, screen: Screen) -> Any:
        """Something the implicit checks refuse (to exercise the refusal path)."""
        rng = self.rng
        kind = screen.type
        if kind in ("numeric", "nps"):
            high = screen.max if screen.max is not None else 10
            return high + rng.randint(1, 100)
        if kind in ("single", "multi"):
            return 9999 if kind == "single" else [9999]
        if kind == "date":
            return "not a date"
        if kind == "text" and screen.max_length:
            return "x" * (screen.max_length + 1)
        return None  # required answer left empty

    def others(self, screen: Screen, value: Any) -> dict[str, str]:
        chosen = value if isinstance(value, list) else [value]
        return {
            o.other_key: "sonstiges " + str(self.rng.randint(1, 999))
            for o in screen.options
            if o.other_key and o.code in chosen
        }


def run_random(
    engine: Engine,
    count: int,
    seed: int,
    *,
    full: Iterable[tuple[str, str]] = (),
    sample: Mapping[str, Any] | None = None,
    lang: str | None = None,
    now: dt.datetime | None = None,
) -> Coverage:
    """``count`` random interviews (seeded, so a report is reproducible)."""
    coverage = Coverage(engine.questionnaire, seed=seed)
    rng = random.Random(seed)
    respondent = RandomRespondent(engine, rng)
    full = set(full)
    for n in range(count):
        gate = OfflineQuotaGate(full)
        state = engine.start(
            rng.randrange(2**31), sample if sample is not None else respondent.sample(), lang, "Sim", now=now, gate=gate
        )
        _random_interview(engine, state, respondent, coverage, gate, now)
        coverage.interviews = n + 1
    return coverage


def _random_interview(
    engine: Engine, state: State, respondent: RandomRespondent, coverage: Coverage, gate: OfflineQuotaGate, now: Any
) -> None:
    rng = respondent.rng
    back_jumps = 0
    budget = 40 * (len(engine.flow.nodes) + 10)
    while budget > 0:
        budget -= 1
        screen = engine.screen(state)
        if isinstance(screen, Ended):
            coverage.dispositions[screen.disposition] += 1
            coverage.ends.add(screen.node_id or "flow end")
            return
        coverage.reached.add(screen.node_id)
        if screen.type == "info":
            engine.forward(state, now=now, gate=gate)
            continue
        if screen.can_go_back and back_jumps < 3 and rng.random() < 0.04:
            back_jumps += 1
            visited = [entry[1] for entry in state.route[: state.cursor] if engine.flow.node(entry[0]).is_screen]
            engine.back(state, rng.choice(visited) if visited and rng.random() < 0.5 else None, now=now)
            continue
        if rng.random() < 0.08:
            bad = respondent.invalid(screen)
            result = engine.answer(state, screen.key, bad, now=now, gate=gate)
            _record_checks(coverage, screen, result)
            if result.accepted:
                _record_choice(coverage, screen, bad)
                continue
        if screen.existing is not None and rng.random() < 0.5:
            result = engine.forward(state, confirm_soft=_all_checks(engine, screen), now=now, gate=gate)
            _record_checks(coverage, screen, result)
            if result.accepted:
                _record_choice(coverage, screen, screen.existing)
                continue
        if not _answer_randomly(engine, state, screen, respondent, coverage, gate, now):
            coverage.stuck[screen.node_id] += 1
            coverage.dispositions["(stuck)"] += 1
            return
    coverage.dispositions["(step budget exhausted)"] += 1


def _all_checks(engine: Engine, screen: Screen) -> range:
    return range(len(engine.flow.questions[screen.node_id].checks))


def _answer_randomly(
    engine: Engine,
    state: State,
    screen: Screen,
    respondent: RandomRespondent,
    coverage: Coverage,
    gate: OfflineQuotaGate,
    now: Any,
) -> bool:
    rng = respondent.rng
    for attempt in range(60):
        value = respondent.valid(screen)
        if attempt > 40 and screen.specials:
            value = (
                screen.specials[0].name
                if screen.type != "grid"
                else {r.code: screen.specials[0].name for r in screen.rows}
            )
        others = respondent.others(screen, value)
        result = engine.answer(state, screen.key, value, others=others, now=now, gate=gate)
        _record_checks(coverage, screen, result)
        if result.needs_confirmation and rng.random() < 0.7:
            confirm = {m.check for m in result.soft if isinstance(m.check, int)}
            result = engine.answer(state, screen.key, value, others=others, confirm_soft=confirm, now=now, gate=gate)
            _record_checks(coverage, screen, result)
        if result.accepted:
            _record_choice(coverage, screen, value)
            return True
    return False


def _record_checks(coverage: Coverage, screen: Screen, result: Result) -> None:
    for message in (*result.errors, *result.soft):
        coverage.checks[(screen.node_id, message.check, message.severity)] += 1


def _record_choice(coverage: Coverage, screen: Screen, value: Any) -> None:
    if screen.type not in ("single", "multi", "grid"):
        return
    chosen = coverage.chosen.setdefault(screen.node_id, set())
    if special_name(value) is not None:
        return
    if isinstance(value, Mapping):
        chosen.update(v for v in value.values() if isinstance(v, int))
    elif isinstance(value, list):
        chosen.update(v for v in value if isinstance(v, int))
    elif isinstance(value, int):
        chosen.add(value)
