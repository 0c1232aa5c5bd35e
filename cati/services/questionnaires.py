"""Compiled questionnaires for stored versions, compiled once per process.

A questionnaire version never changes once stored, so its compiled form can be cached by the
text's SHA-256 for the life of the process; every interview on that version shares it.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from cati.questionnaires.compiler import load_questionnaire
from cati.questionnaires.model import Questionnaire


def sha256(source: str) -> str:
    return hashlib.sha256(source.encode("utf-8")).hexdigest()


@lru_cache(maxsize=64)
def _compile_cached(digest: str, source: str, source_name: str) -> Questionnaire:
    return load_questionnaire(source, source_name)


def compiled(source: str, source_name: str = "<questionnaire>") -> Questionnaire:
    """Compile (or fetch from the cache) a questionnaire text; raises QuestionnaireError."""
    return _compile_cached(sha256(source), source, source_name)
