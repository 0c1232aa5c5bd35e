"""``cati check FILE...``: validate questionnaires (questionnaire-format §10).

Quiet on success (one summary line, exit 0); otherwise one ``FILE:LINE:COL: message`` line per
problem on standard output and exit 1, so editors and CI can jump to each place. An unreadable
file is reported as ``FILE: cannot read: ...``. Never a traceback: researchers run this on files
they are still writing. Imports only the pure questionnaire package (fast start, no database).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "check",
        parents=parents,
        help="validate questionnaire files",
        description="Check questionnaires; print FILE:LINE:COL: message per problem.",
    )
    parser.add_argument("files", metavar="FILE", nargs="+", help="questionnaire (YAML)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cati.questionnaires.codebook import build_codebook
    from cati.questionnaires.compiler import load_file
    from cati.questionnaires.errors import QuestionnaireError

    failed = 0
    variables = 0
    for path in args.files:
        try:
            questionnaire = load_file(path)
        except QuestionnaireError as exc:
            failed += 1
            for problem in exc.problems:
                print(problem)
            continue
        variables += len(build_codebook(questionnaire))
    total = len(args.files)
    if failed:
        print(f"{failed} of {total} questionnaire{'s' if total != 1 else ''} with problems", file=sys.stderr)
        return 1
    print(f"{total} questionnaire{'s' if total != 1 else ''} OK ({variables} variables)")
    return 0
