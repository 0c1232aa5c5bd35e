from __future__ import annotations

import pytest

from .helpers import QUESTIONNAIRES, dataset

_CACHE: dict[str, tuple] = {}


@pytest.fixture(params=sorted(QUESTIONNAIRES))
def simulated(request: pytest.FixtureRequest):
    """(dataset, rows) of 120 random interviews, once per questionnaire and test session."""
    name = request.param
    if name not in _CACHE:
        _CACHE[name] = dataset(name)
    return _CACHE[name]
