"""Property-based: whatever expression a ``computed`` question has, the value the engine exports
fits the type the codebook declares (a text in a numeric column stops the whole data export)."""

from __future__ import annotations

import datetime as dt
import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cati.questionnaires.compiler import check_text, load_questionnaire
from cati.questionnaires.engine import Engine

from .helpers import doc
from .test_expressions_properties import sources

FLOW = """\
- {id: x, type: numeric, text: x, min: -1000, max: 1000, decimals: 2, special: [DK]}
- {id: y, type: numeric, text: y, min: 0, max: 10}
- {id: K1, type: multi, text: k, special: [REF], options: [{code: 1, en: a}, {code: 2, en: b}, {code: 3, en: c}]}
- {id: S2, type: single, text: s, special: [DK], options: [{code: 1, en: a}, {code: 2, en: b}]}
- {id: d, type: date, text: d}
- {id: t, type: text, text: t}
"""

answers = st.fixed_dictionaries(
    {
        "x": st.one_of(st.just("DK"), st.integers(-1000, 1000), st.sampled_from([0.5, -12.25])),
        "y": st.integers(0, 10),
        "K1": st.one_of(st.just("REF"), st.lists(st.integers(1, 3), min_size=1, max_size=3, unique=True)),
        "S2": st.sampled_from([1, 2, "DK"]),
        "d": st.dates(dt.date(1990, 1, 1), dt.date(2030, 12, 31)).map(dt.date.isoformat),
        "t": st.text(alphabet="ab1 ", max_size=4).map(lambda s: "a" + s),
    }
)


def fits(spss_type: str, value: object) -> bool:
    if value is None:
        return True
    if spss_type == "numeric":
        return isinstance(value, int | float) and not isinstance(value, bool)
    if spss_type == "date":
        return isinstance(value, str) and dt.date.fromisoformat(value) is not None
    return isinstance(value, str)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=sources, with_options=st.booleans(), values=answers)
def test_computed_export_value_fits_its_codebook_type(source, with_options, values):
    options = ", options: [{code: 1, en: a}, {code: 2, en: b}]" if with_options else ""
    text = doc(FLOW + f"- {{id: C, type: computed, expr: {json.dumps(source)}{options}}}\n")
    assume(not check_text(text, "q.yaml"))
    engine = Engine(load_questionnaire(text, "q.yaml"))
    state = engine.start(1, {})
    for key in ("x", "y", "K1", "S2", "d", "t"):  # flow order
        assert engine.answer(state, key, values[key]).accepted
    variable = next(v for v in engine.codebook() if v.name == "C")
    value = engine.export_row(state)["C"]
    assert fits(variable.spss_type, value), (source, variable.spss_type, value)
    stored = state.answers.get("C")
    not_a_number = variable.spss_type == "numeric" and isinstance(stored, str | list)
    if not_a_number or (variable.spss_type == "date" and stored in ("DK", "REF", "NA")):
        # a special (declared nowhere for C) or a stray text: system-missing, never a code like 98
        assert value is None, (source, stored, value)
