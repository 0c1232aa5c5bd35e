"""Variable-name rules (questionnaire-format §2), applied to the *generated* export names.

Why so strict: pyreadstat writes ``q1`` next to ``Q1`` or a lower-case ``all`` without complaint,
and SPSS/PSPP then silently rename them (``V1``, ``VAR001``), which breaks every syntax file a
researcher has. So the checker refuses such names before fieldwork starts.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
ID_RE = re.compile(r"[a-z][a-z0-9_]*\Z")  # questionnaire id
MAX_NAME_BYTES = 64
RESERVED_PREFIX = "sys_"
SPSS_RESERVED = frozenset({"ALL", "AND", "BY", "EQ", "GE", "GT", "LE", "LT", "NE", "NOT", "OR", "TO", "WITH"})

#: Paradata columns every export starts with; questions may not use these names.
PARADATA = (
    "resp_id",
    "disposition",
    "q_version",
    "lang",
    "interviewer_id",
    "start_ts",
    "end_ts",
    "duration_s",
    "n_soft_overrides",
)
#: Added by the server's data export (not by the engine), so reserved as well.
SERVER_PARADATA = ("attempts",)
RESERVED_NAMES = PARADATA + SERVER_PARADATA


def name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid SPSS variable name, or ``None`` when it is."""
    if not NAME_RE.match(name):
        if not name:
            return "a name must not be empty"
        if not name.isascii():
            return f"name {name!r} must use ASCII letters, digits and '_' only"
        if not name[0].isalpha():
            return f"name {name!r} must start with a letter"
        return f"name {name!r} may contain only ASCII letters, digits and '_'"
    if len(name.encode()) > MAX_NAME_BYTES:
        return f"name {name!r} is longer than {MAX_NAME_BYTES} bytes"
    if name.endswith("_"):
        return f"name {name!r} must not end with '_'"
    if name.lower().startswith(RESERVED_PREFIX):
        return f"name {name!r}: the prefix '{RESERVED_PREFIX}' is reserved"
    if name.upper() in SPSS_RESERVED:
        return f"name {name!r} is an SPSS reserved word"
    return None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint for a near miss, or an empty string."""
    pool = list(candidates)
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return f" (did you mean {close[0]!r}?)" if close else ""


class NameRegistry:
    """Export names seen so far, unique ignoring case; remembers what claimed each name."""

    def __init__(self) -> None:
        self._seen: dict[str, str] = {}

    def claim(self, name: str, owner: str) -> str | None:
        """Register ``name`` for ``owner``; return a problem message when it is taken or invalid."""
        problem = name_problem(name)
        if problem:
            return problem
        key = name.lower()
        previous = self._seen.get(key)
        if previous is not None:
            return f"variable name {name!r} is already used by {previous} (names are compared ignoring case)"
        self._seen[key] = owner
        return None

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._seen
