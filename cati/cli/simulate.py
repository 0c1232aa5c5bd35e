"""``cati simulate``: run interviews offline (questionnaire-format §10).

Exit codes: 0 done; 1 bad input (questionnaire problems as ``FILE:LINE:COL: message``, unreadable
answers or sample file); 2 wrong usage, or a question on the route without a scripted answer;
3 a scripted answer refused by a hard check. Every message goes to standard error as one line
``cati simulate: <message>`` (docs/cli.md); answers and sample files are read by the
questionnaire's YAML rules (``yamlload.load_data``). Never a traceback: researchers run this on
files they are still writing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any


class SampleFieldError(ValueError):
    """A sample file's value that does not fit its declared field; ``field`` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"sample field {field}: {message}")
        self.field = field


def typed_sample(questionnaire, raw):  # type: ignore[no-untyped-def]
    """Declared sample fields typed (codes as numbers, dates as ISO); SampleFieldError names the field."""
    from cati.questionnaires.sample_fields import typed_value

    typed = {}
    for spec in questionnaire.sample:
        if spec.name in raw:
            value = raw[spec.name]
            try:
                typed[spec.name] = typed_value(spec, str(value) if isinstance(value, int | float) else value)
            except ValueError as exc:
                raise SampleFieldError(spec.name, str(exc)) from None
    return typed


def _where(path: str, key: str) -> str:
    """``FILE:LINE:COL`` of ``key`` in the flat YAML mapping at ``path`` (``FILE`` if not found)."""
    from cati.questionnaires.yamlload import YMap, load_yaml

    try:
        node = load_yaml(Path(path).read_text(encoding="utf-8"), path)
    except Exception:  # read before without a problem; a position is a courtesy
        return path
    pos = node.key_pos.get(key) if isinstance(node, YMap) else None
    return f"{path}:{pos.line}:{pos.col}" if pos is not None else path


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "simulate",
        parents=parents,
        help="run interviews offline (scripted or random)",
        description="Run one scripted interview (--answers) or N random interviews (--random) offline.",
    )
    parser.add_argument("file", metavar="FILE", help="questionnaire (YAML)")
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--answers", metavar="ANSWERS.yaml", help="scripted answers by question id or generated name")
    mode.add_argument("--random", metavar="N", type=int, help="run N random interviews and report coverage")
    parser.add_argument("--sample", metavar="SAMPLE.yaml", help="sample fields (flat mapping)")
    parser.add_argument("--lang", help="interview language (default: the questionnaire's first)")
    parser.add_argument("--seed", type=int, default=0, help="interview seed for random orders and values (default 0)")
    parser.add_argument(
        "--full", metavar="QUOTA.CELL", action="append", default=[], help="treat this quota cell as full (repeatable)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text", help="report format for --random")
    parser.set_defaults(func=run)


def _fail(message: str, code: int) -> int:
    print(f"cati simulate: {message}", file=sys.stderr)
    return code


def _read_mapping(path: str, what: str) -> Mapping[str, Any]:
    """An answers or sample file, read by the questionnaire's YAML rules (see ``load_data``):
    ``plz: 01067`` stays the text "01067", ``T1: no`` the text "no", dates stay ISO texts; a YAML
    problem is reported as ``FILE:LINE:COL: message``."""
    from cati.questionnaires.errors import QuestionnaireError
    from cati.questionnaires.yamlload import load_data

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _InputError(f"cannot read {what} file {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        data = load_data(text, path, mapping=True)
    except QuestionnaireError as exc:
        raise _InputError("; ".join(f"{problem} ({what} file)" for problem in exc.problems)) from None
    return data if isinstance(data, Mapping) else {}


class _InputError(Exception):
    pass


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except _InputError as exc:
        return _fail(str(exc), 1)
    except BrokenPipeError:
        raise  # the reader went away (`| head`): cati.cli.main ends quietly
    except Exception as exc:  # never a traceback for a researcher's file
        return _fail(f"internal error: {type(exc).__name__}: {exc}", 1)


def _load(path: str) -> Any:
    from cati.questionnaires.compiler import load_questionnaire
    from cati.questionnaires.errors import QuestionnaireError

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise _InputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        return load_questionnaire(text, path)
    except QuestionnaireError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        raise _InputError(f"{path}: {len(exc.problems)} problem(s); fix them first") from None


def _run(args: argparse.Namespace) -> int:
    from cati.questionnaires import simulate
    from cati.questionnaires.engine import Engine, EngineError

    questionnaire = _load(args.file)
    if args.lang is not None and args.lang not in questionnaire.languages:
        return _fail(f"--lang {args.lang}: the questionnaire has {', '.join(questionnaire.languages)}", 2)
    try:
        full = simulate.parse_full(args.full)
    except ValueError as exc:
        return _fail(str(exc), 2)
    problems = simulate.check_full(questionnaire, full)
    if problems:
        return _fail("; ".join(problems), 2)
    sample = None
    if args.sample:
        # A hand-written sample file says `kontaktgrund: "2"` as often as `kontaktgrund: 2`: type
        # the values as the questionnaire declares them, exactly as the sample import does.
        raw = dict(_read_mapping(args.sample, "sample"))
        try:
            sample = {**raw, **typed_sample(questionnaire, raw)}
        except SampleFieldError as exc:
            return _fail(f"{_where(args.sample, exc.field)}: {exc}", 1)
    engine = Engine(questionnaire)
    if args.random is not None:
        if args.random < 0:
            return _fail(f"--random {args.random}: the number of interviews cannot be negative", 2)
        coverage = simulate.run_random(engine, args.random, args.seed, full=full, sample=sample, lang=args.lang)
        report = coverage.report()
        if args.format == "json":
            print(json.dumps(report, ensure_ascii=False, indent=2))
        else:
            print(simulate.format_report(report))
        return 0
    answers = _read_mapping(args.answers, "answers")
    try:
        result = simulate.run_script(engine, answers, sample=sample, lang=args.lang, seed=args.seed, full=full)
    except simulate.SimulationError as exc:
        return _fail(str(exc), exc.exit_code)
    except EngineError as exc:
        return _fail(str(exc), 1)
    if result.unused:
        print(f"cati simulate: note: answers not used: {', '.join(result.unused)}", file=sys.stderr)
    print(json.dumps(result.to_json(), ensure_ascii=False, indent=2, default=_json_default))
    return 0


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
