"""Typing of sample field values (importer, interview preload and ``cati simulate --sample``)."""

from __future__ import annotations

import pytest

from cati.questionnaires.model import Option, Pos, SampleField, Text
from cati.questionnaires.sample_fields import preload, typed_value

AT = Pos(1, 1)
REGION = SampleField("region", "single", (Option(1, Text({"de": "N"}, {}), AT), Option(2, Text({"de": "S"}, {}), AT)))
NUMBER = SampleField("umsatz", "numeric")
DATE = SampleField("kaufdatum", "date")
TEXT = SampleField("plz", "text")


@pytest.mark.parametrize(
    ("spec", "raw", "value"),
    [
        (REGION, " 2 ", 2), (REGION, "+1", 1), (REGION, "", None), (REGION, None, None), (REGION, 2, 2),
        (NUMBER, "19,5", 19.5), (NUMBER, "12.0", 12), (NUMBER, "-3", -3),
        (DATE, "2026-10-10", "2026-10-10"), (DATE, "2026-10-10T08:00", "2026-10-10"),
        (TEXT, "01067", "01067"),
    ],
)
def test_values_are_typed_as_declared(spec, raw, value):
    assert typed_value(spec, raw) == value


@pytest.mark.parametrize(
    ("spec", "raw", "message"),
    [
        (REGION, "DK", "'DK' is not an option code (a whole number)"),
        (REGION, "²", "'²' is not an option code (a whole number)"),
        (REGION, "--1", "'--1' is not an option code (a whole number)"),
        (REGION, "3", "code 3 is not an option of region"),
        (NUMBER, "viel", "'viel' is not a number"),
        (NUMBER, "inf", "'inf' is not a number"),
        (NUMBER, "nan", "'nan' is not a number"),
        (DATE, "10.10.2026", "'10.10.2026' is not an ISO date (2026-10-10)"),
        (REGION, {"a": 1}, "expected one value, found a mapping"),
        (TEXT, ["a"], "expected one value, found a list"),
    ],
)
def test_values_that_do_not_fit_are_refused_with_a_message_naming_them(spec, raw, message):
    """Not Python's parse error ('invalid literal for int() ...'), and never a list or mapping
    passed on as the value (cati simulate --sample put {a: 1} into the data)."""
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)") + "$"):
        typed_value(spec, raw)


def test_preload_leaves_out_a_value_that_no_longer_types():
    assert preload((REGION, NUMBER), {"region": "7", "umsatz": "5"}, {}, {}) == {"umsatz": 5}
