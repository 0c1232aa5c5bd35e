"""Language codes with a region (``de-CH``, ``de-AT``, ``en-GB``) and the built-in texts.

A questionnaire may list ``de-CH`` as a language of its own (its texts are its own), but the
conventions and built-in texts we ship exist per *base* language: decimal comma, dd.mm.yyyy
dates, the word joining labels ("A, B und C"), implicit-check messages, special-code and NPS
labels, the codebook's words. All of them look up :func:`base_language`, so ``de-CH`` writes
and speaks like ``de``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

T = TypeVar("T")


def base_language(lang: str) -> str:
    """``de`` for ``de-CH``, ``de_AT`` or ``DE``: the language without its region, lower-case."""
    return lang.replace("_", "-").split("-", 1)[0].lower()


def for_language(table: Mapping[str, T], lang: str) -> T | None:
    """The entry of ``table`` for ``lang`` itself, else for its base language, else None."""
    found = table.get(lang)
    return found if found is not None else table.get(base_language(lang))


__all__ = ["base_language", "for_language"]
