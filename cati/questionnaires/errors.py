"""Problems found in a questionnaire file, each tied to a ``FILE:LINE:COL`` position.

Researchers fix files in an editor, so every message names the exact place; the checker collects
all problems of a file (not only the first) so that one run shows everything to fix.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, order=True)
class Problem:
    """One problem; ``line`` and ``col`` are 1-based (0 for a problem of the whole file)."""

    source: str
    line: int
    col: int
    message: str

    def __str__(self) -> str:
        if self.line <= 0:  # about the whole file (e.g. it cannot be read): no position to give
            return f"{self.source}: {self.message}"
        return f"{self.source}:{self.line}:{self.col}: {self.message}"


class QuestionnaireError(Exception):
    """Raised by :func:`cati.questionnaires.compiler.load_questionnaire` when a file has problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        first = str(self.problems[0]) if self.problems else "invalid questionnaire"
        more = len(self.problems) - 1
        super().__init__(first + (f" (and {more} more problems)" if more > 0 else ""))
