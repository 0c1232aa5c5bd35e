"""Shared helpers for the questionnaire checker tests: small files and marked positions."""

from __future__ import annotations

from pathlib import Path

from cati.questionnaires.compiler import check_text, load_questionnaire

# shared/ lies beside the checkout (locally and in CI): the spec examples are fixtures.
EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"

MARK = "»"

HEADER = """\
format: cati/1
id: t
version: 1
title: T
languages: [en]
dispositions:
  COMPLETE: 1
  SO: {code: 2, aapor: "4.70"}
"""


def doc(flow: str, top: str = "") -> str:
    """A one-language questionnaire with ``top`` keys and ``flow`` lines (each starting ``- ``)."""
    return HEADER + top + "flow:\n" + flow


def marked(text: str) -> tuple[str, str]:
    """Remove the marker and return the text plus ``LINE:COL`` of where the marker stood."""
    index = text.index(MARK)
    line = text.count("\n", 0, index) + 1
    col = index - (text.rfind("\n", 0, index) + 1) + 1
    return text.replace(MARK, "", 1), f"{line}:{col}"


def problems(text: str, source: str = "q.yaml") -> list[str]:
    """Problems as ``LINE:COL: message`` (without the file name)."""
    return [str(p).removeprefix(f"{source}:") for p in check_text(text, source)]


def compile_text(text: str):
    return load_questionnaire(text, "q.yaml")
