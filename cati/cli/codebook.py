"""``cati codebook FILE [--format json|text]``: list every export variable.

``json`` is one JSON document (a list of variables); ``text`` an aligned table for reading.
A questionnaire with problems prints them to standard error as ``cati check`` does and exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "codebook",
        parents=parents,
        help="list the export variables of a questionnaire",
        description="List every export variable: name, label, type, SPSS format, value labels, missing codes.",
    )
    parser.add_argument("file", metavar="FILE", help="questionnaire (YAML)")
    parser.add_argument("--format", choices=("text", "json"), default="text", help="output format (default text)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from cati.questionnaires.codebook import build_codebook
    from cati.questionnaires.compiler import load_file
    from cati.questionnaires.errors import QuestionnaireError

    try:
        questionnaire = load_file(args.file)
    except QuestionnaireError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        return 1
    variables = build_codebook(questionnaire)
    if args.format == "json":
        json.dump([as_json(v) for v in variables], sys.stdout, ensure_ascii=False, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(as_text(variables))
    return 0


def as_json(var: Any) -> dict[str, Any]:
    """The JSON form of one :class:`~cati.questionnaires.model.ExportVariable`."""
    return {
        "name": var.name,
        "label": var.label,
        "type": var.spss_type,
        "format": var.spss_format,
        "measure": var.measure,
        "value_labels": {str(code): label for code, label in var.value_labels.items()},
        "missing": list(var.missing),
        "mr_set": var.mr_set,
        "pii": var.pii,
        "kind": var.kind,
        "question": var.question_id,
        "show_if": var.show_if,
    }


def as_text(variables: list[Any]) -> str:
    """An aligned table: one line per variable, value labels indented below it."""
    header = ("name", "type", "format", "measure", "missing", "mr_set", "label")
    rows = [
        (
            v.name,
            v.spss_type,
            v.spss_format,
            v.measure,
            ",".join(str(m) for m in v.missing),
            v.mr_set or "",
            v.label + (" [pii]" if v.pii else ""),
        )
        for v in variables
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header) - 1)]
    lines = []
    for row, var in zip((header, *rows), (None, *variables), strict=True):
        lines.append("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1])
        if var is not None:
            lines.extend(f"{'':{widths[0]}}    {code} = {label}" for code, label in var.value_labels.items())
    return "\n".join(line.rstrip() for line in lines) + "\n"
