"""``cati testdata SLUG --count N [--seed S]``: random test interviews through the real engine."""

from __future__ import annotations

import argparse

from .env import CommandError, command_env, positive_int, run
from .progress import Progress


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def register(subparsers: argparse._SubParsersAction, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "testdata", parents=parents, help="run random interviews into a study, flagged as test data",
        description="Run N random interviews through the study's current questionnaire and store them as test "
                    "interviews (no case, no quotas). Exports leave them out unless --include ...,test.")
    parser.add_argument("slug", metavar="SLUG", help="the study's slug")
    parser.add_argument("--count", required=True, type=positive_int, metavar="N")
    parser.add_argument("--seed", type=_seed, metavar="S", help="makes the answers reproducible (default: random)")
    parser.set_defaults(func=lambda args: run(_testdata, args))


def _testdata(args: argparse.Namespace) -> int:
    from cati.services.studies import get_study
    from cati.services.testdata import TestdataError, generate

    progress = Progress(f"interviewing {args.slug}")
    with command_env(args.config) as env:
        study = get_study(env.session, args.slug)
        if study is None:
            raise CommandError(f"study {args.slug!r} not found")
        try:
            report = generate(env.session, study, args.count, args.seed, progress=progress)
        except TestdataError as exc:
            raise CommandError(str(exc)) from None
        finally:
            progress.close()
    print(report.summary())
    return 0
