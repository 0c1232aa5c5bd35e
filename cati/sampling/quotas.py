"""Quota arithmetic, without a database.

* :func:`cap`/:func:`has_room`: when a cell takes no more interviews. A cell counts completes
  *and* pending interviews (passed the checkpoint, still running), so concurrent interviewers
  cannot overshoot: "admit if completes + pending < cap".
* :func:`priority_band`: how urgently a cell needs cases (queXS's auto-priority, in bands), and
  :func:`banded_key`, how a band is folded into a fresh case's delivery order.
* :func:`sample_cell`: the cell a case falls in by its sample fields alone (quotas whose cells
  use only sample fields), evaluated exactly as the interview will.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from cati.questionnaires import model
from cati.questionnaires.engine import to_json_value
from cati.questionnaires.route import Call, FlowIndex, Scope
from cati.questionnaires.state import State

MODES = ("hard", "soft", "counter")
#: Priority bands for cells with a target: 3 = less than a third filled ... 1 = nearly full.
PRIORITY_BANDS = 3
#: Fresh cases have a 62-bit random order key (>= 0). A prioritised case gets
#: ``(raw >> 4) - band * BAND_SPAN``: negative, so it sorts before every unprioritised fresh
#: case, higher bands first, and still in random order within its band.
BAND_SPAN = 1 << 58
BAND_SHIFT = 4


def cap(mode: str, target: int | None, overshoot: float = 0.0) -> int | None:
    """The count (completes + pending) at which a cell closes; None: it never closes.

    ``soft`` cells may exceed the target by ``overshoot`` (a share: 0.1 = 10 %), rounded down,
    so a soft cell never takes more than the share allows; then they close like hard cells.
    """
    if mode == "counter" or target is None:
        return None
    if mode == "soft":
        return target + math.floor(target * max(overshoot, 0.0) + 1e-9)
    return target


def has_room(mode: str, target: int | None, overshoot: float, completes: int, pending: int) -> bool:
    limit = cap(mode, target, overshoot)
    return limit is None or completes + pending < limit


def remaining(target: int | None, completes: int) -> int | None:
    """Completes still wanted for the target (None without a target)."""
    return None if target is None else max(target - completes, 0)


def priority_band(mode: str, target: int | None, completes: int, pending: int) -> int:
    """0 (no priority: no target, counter, target reached) to :data:`PRIORITY_BANDS` (empty)."""
    if mode == "counter" or target is None or target <= 0:
        return 0
    share = 1 - (completes + pending) / target
    if share <= 0:
        return 0
    return min(PRIORITY_BANDS, max(1, math.ceil(share * PRIORITY_BANDS - 1e-9)))


def band_of_key(order_key: int) -> int:
    """The band a fresh case's order key is in (0 = not prioritised)."""
    return 0 if order_key >= 0 else (-order_key + BAND_SPAN - 1) // BAND_SPAN


def banded_key(order_key: int, band: int) -> int:
    """A fresh case's order key moved to ``band``; the inverse of itself up to the low bits."""
    current = band_of_key(order_key)
    if current == band:
        return order_key
    compact = order_key >> BAND_SHIFT if current == 0 else order_key + current * BAND_SPAN
    return compact << BAND_SHIFT if band == 0 else compact - band * BAND_SPAN


def sample_cell(flow: FlowIndex, quota: model.Quota, sample: Mapping[str, Any],
                today: dt.date | None = None) -> tuple[int, model.QuotaCell] | None:
    """(1-based position, cell) of the first cell whose condition holds for these sample values
    (as :func:`cati.questionnaires.sample_fields.preload` types them), or None."""
    questionnaire = flow.questionnaire
    state = State(questionnaire_id=questionnaire.id, version=questionnaire.version, seed=0,
                  lang=questionnaire.default_language,
                  sample={k: to_json_value(v) for k, v in sample.items() if v is not None})
    scope = Scope(Call(flow, state, today or dt.date.today()))
    for position, cell in enumerate(quota.cells, start=1):
        if scope.holds(cell.condition):
            return position, cell
    return None
