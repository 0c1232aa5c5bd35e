"""The expression language of questionnaire-format §5: every operator, function and null rule."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import pickle
import random
import time

import pytest

from cati.questionnaires import expressions as ex
from cati.questionnaires.expressions import DK, NA, REF, Env, ExpressionError, Special, parse

TODAY = dt.date(2025, 3, 1)
D1 = dt.date(2000, 3, 1)
D2 = dt.date(2000, 3, 11)


def run(source: str, values: dict | None = None, **env_kwargs):
    env_kwargs.setdefault("today", TODAY)
    env = Env((values or {}).get, **env_kwargs)
    return parse(source, allow_random=True).evaluate(env)


def same(result, expected) -> bool:
    """Equal and of the same type: pins 2 vs 2.0 vs True and specials by identity."""
    if isinstance(expected, Special) or expected is None:
        return result is expected
    return type(result) is type(expected) and result == expected


# (source, variable values, expected result)
CASES = [
    # literals and names
    ("1", {}, 1),
    ("1.5", {}, 1.5),
    ("'a'", {}, "a"),
    ('"a b"', {}, "a b"),
    ("r'\\d'", {}, "\\d"),
    ("'\\d'", {}, "\\d"),
    ("true", {}, True),
    ("false", {}, False),
    ("null", {}, None),
    ("True", {}, True),
    ("None", {}, None),
    ("[1, 'a', null]", {}, [1, "a", None]),
    ("[x, 2]", {"x": 1}, [1, 2]),
    ("[]", {}, []),
    ("DK", {}, DK),
    ("REF", {}, REF),
    ("NA", {}, NA),
    ("x", {"x": 5}, 5),
    ("unknown_name", {}, None),
    ("'$code'", {}, "$code"),
    ("x ==\n 1", {"x": 1}, True),
    # == and != compare exactly
    ("x == 1", {"x": 1}, True),
    ("x == 1", {"x": 1.0}, True),
    ("x == 1", {"x": DK}, False),
    ("x == 1", {}, False),
    ("K3 != 5", {"K3": DK}, True),
    ("K3 != 5", {"K3": 5}, False),
    ("K3 != 5", {}, True),
    ("x == DK", {"x": DK}, True),
    ("x == DK", {"x": REF}, False),
    ("x != REF", {"x": REF}, False),
    ("x == null", {}, True),
    ("x == null", {"x": 0}, False),
    ("x != null", {"x": 3}, True),
    ("x == y", {}, True),
    ("x == 'a'", {"x": "a"}, True),
    ("x == '1'", {"x": 1}, False),
    ("DK == 98", {}, False),
    ("DK == 'DK'", {}, False),
    ("DK == REF", {}, False),
    ("K1 == [3, 1]", {"K1": (1, 3)}, True),
    ("K1 == [1]", {"K1": (1, 3)}, False),
    ("K1 == K2", {"K1": (1, 3), "K2": (3, 1)}, True),
    ("K1 == 1", {"K1": (1,)}, False),
    ("K1 == [3, 1]", {"K1": [1, 3]}, True),
    ("K1 == []", {"K1": ()}, True),
    ("[1, 2] == [2, 1]", {}, True),
    ("[1, 2] == [1, 3]", {}, False),
    ("3 in K1", {"K1": [1, 3]}, True),
    ("selected(K1, 3)", {"K1": [1, 3]}, True),
    ("d == e", {"d": D1, "e": dt.date(2000, 3, 1)}, True),
    ("d == '2000-03-01'", {"d": D1}, False),
    ("true == 1", {}, True),
    # < <= > >= are false with null, specials and mixed types
    ("x < 5", {"x": 3}, True),
    ("x < 5", {"x": 5}, False),
    ("x < 5", {}, False),
    ("x < 5", {"x": DK}, False),
    ("x < 5", {"x": "a"}, False),
    ("x < 5", {"x": (1,)}, False),
    ("x < 5", {"x": D1}, False),
    ("x >= 5", {}, False),
    ("not (x < 5)", {}, True),
    ("x <= 44", {"x": 44}, True),
    ("x <= 44", {"x": 44.5}, False),
    ("x > 2.5", {"x": 3}, True),
    ("x >= y", {"x": 3, "y": REF}, False),
    ("REF > 0", {}, False),
    ("0 < NA", {}, False),
    ("'a' < 'b'", {}, True),
    ("'a' < 1", {}, False),
    ("d < e", {"d": D1, "e": D2}, True),
    ("d < '2001-01-01'", {"d": D1}, False),
    ("x <= y", {"x": (1, 2), "y": (1, 3)}, False),
    ("1 < x < 5", {"x": 3}, True),
    ("1 < x < 5", {"x": 5}, False),
    ("1 < x < 5", {}, False),
    ("1 < x == 3", {"x": 3}, True),
    ("x == y < 5", {"x": DK, "y": DK}, False),
    # in / not in
    ("x in [1, 2]", {"x": 2}, True),
    ("x in [1, 2]", {"x": 2.0}, True),
    ("x in [1, 2]", {"x": 3}, False),
    ("x in [1, 2]", {}, False),
    ("x in [1, 2]", {"x": DK}, False),
    ("x not in [1, 2]", {}, True),
    ("x not in [1, 2]", {"x": DK}, True),
    ("x not in [1, 2]", {"x": 3}, True),
    ("x not in [1, 2]", {"x": 1}, False),
    ("x in [DK, REF]", {"x": REF}, True),
    ("x in [null]", {}, True),
    ("3 in K1", {"K1": (1, 3)}, True),
    ("2 in K1", {"K1": (1, 3)}, False),
    ("2 not in K1", {"K1": (1, 3)}, True),
    ("3 in K1", {}, False),
    ("3 not in K1", {}, True),
    ("3 in K1", {"K1": DK}, False),
    ("3 not in K1", {"K1": DK}, True),
    ("K1 in [1, 3]", {"K1": (1, 3)}, False),
    ("'b' in 'abc'", {}, True),
    ("'d' in 'abc'", {}, False),
    ("'x' in t", {}, False),
    ("1 in '123'", {}, False),
    ("'1' in [1]", {}, False),
    ("3 in 5", {}, False),
    # and / or / not give booleans; null and specials are false
    ("x and y", {"x": 1, "y": 2}, True),
    ("x and y", {"x": 1}, False),
    ("x or y", {"y": 0}, False),
    ("x or y", {"y": "a"}, True),
    ("x or y", {"x": DK, "y": REF}, False),
    ("a and b and c", {"a": 1, "b": 1, "c": 1}, True),
    ("a or b or c", {"c": 1}, True),
    ("a or b and c", {"a": 1}, True),
    ("(a or b) and c", {"a": 1}, False),
    ("not x", {}, True),
    ("not x", {"x": DK}, True),
    ("not x", {"x": 0}, True),
    ("not x", {"x": ""}, True),
    ("not x", {"x": ()}, True),
    ("not x", {"x": (1,)}, False),
    ("not x", {"x": D1}, False),
    ("not x", {"x": "0"}, False),
    ("not not x", {"x": 7}, True),
    # arithmetic: null/special/mismatch give null, / and % by zero give null
    ("x + 1", {"x": 2}, 3),
    ("x + 1", {"x": 2.5}, 3.5),
    ("x + 1", {}, None),
    ("x + 1", {"x": DK}, None),
    ("x - 1", {"x": REF}, None),
    ("x * 2", {"x": NA}, None),
    ("x + 1", {"x": "a"}, None),
    ("x + 1", {"x": (1,)}, None),
    ("'a' * 3", {}, None),
    ("x / 2", {"x": 3}, 1.5),
    ("6 / 3", {}, 2.0),
    ("x / 0", {"x": 3}, None),
    ("x % 0", {"x": 3}, None),
    ("x / y", {"x": 3, "y": 0.0}, None),
    ("7 % 3", {}, 1),
    ("-7 % 3", {}, 2),
    ("7.5 % 2", {}, 1.5),
    ("'a' + 'b'", {}, "ab"),
    ("x + ' ' + y", {"x": "Anna", "y": "Berg"}, "Anna Berg"),
    ("'a' + 1", {}, None),
    ("x + 'a'", {}, None),
    ("d + 10", {"d": D1}, D2),
    ("10 + d", {"d": D1}, D2),
    ("e - 10", {"e": D2}, D1),
    ("e - d", {"d": D1, "e": D2}, 10),
    ("d - e", {"d": D1, "e": D2}, -10),
    ("d + e", {"d": D1, "e": D2}, None),
    ("d - 'x'", {"d": D1}, None),
    ("d + 1.5", {"d": D1}, None),
    ("-x", {"x": 3}, -3),
    ("-x", {}, None),
    ("-x", {"x": DK}, None),
    ("-x", {"x": "a"}, None),
    ("+x", {"x": 2.5}, 2.5),
    ("-true", {}, -1),
    ("true + true", {}, 2),
    ("(1 + 2) * 3", {}, 9),
    ("1 + 2 * 3", {}, 7),
    ("10 - 2 - 3", {}, 5),
    ("2 * 3 % 4", {}, 2),
    ("100 / 10 / 5", {}, 2.0),
    ("1 - -1", {}, 2),
    ("1e308 * 10", {}, None),
    ("x / 3", {"x": 10**400}, None),
    ("x + 0.5", {"x": 10**400}, None),
    ("D2 <= D1 - 1", {"D1": 3, "D2": 2}, True),
    ("D2 <= D1 - 1", {"D1": 3, "D2": 3}, False),
    # answered / special / is_dk / is_ref / is_na
    ("answered(x)", {}, False),
    ("answered(x)", {"x": DK}, False),
    ("answered(x)", {"x": REF}, False),
    ("answered(x)", {"x": NA}, False),
    ("answered(x)", {"x": 0}, True),
    ("answered(x)", {"x": ""}, True),
    ("answered(x)", {"x": ()}, True),
    ("answered(x)", {"x": (1,)}, True),
    ("answered(x)", {"x": D1}, True),
    ("answered(x)", {"x": False}, True),
    ("special(x)", {"x": DK}, True),
    ("special(x)", {"x": REF}, True),
    ("special(x)", {"x": NA}, True),
    ("special(x)", {}, False),
    ("special(x)", {"x": 98}, False),
    ("special(x)", {"x": "DK"}, False),
    ("is_dk(x)", {"x": DK}, True),
    ("is_dk(x)", {"x": REF}, False),
    ("is_dk(x)", {}, False),
    ("is_dk(x)", {"x": 98}, False),
    ("is_ref(x)", {"x": REF}, True),
    ("is_ref(x)", {"x": NA}, False),
    ("is_na(x)", {"x": NA}, True),
    ("is_na(x)", {"x": DK}, False),
    ("S2 == 3 or is_ref(S2)", {"S2": REF}, True),
    # selected / any_of / all_of / count
    ("selected(x, 1)", {"x": (1, 3)}, True),
    ("selected(x, 2)", {"x": (1, 3)}, False),
    ("selected(x, 2, 3)", {"x": (1, 3)}, True),
    ("selected(x, [2, 3])", {"x": (1, 3)}, True),
    ("selected(x, 1)", {"x": 1}, True),
    ("selected(x, 1)", {"x": 2}, False),
    ("selected(x, 1)", {}, False),
    ("selected(x, 1)", {"x": DK}, False),
    ("selected(x, DK)", {"x": DK}, True),
    ("selected(x, 1)", {"x": ()}, False),
    ("any_of(x, [1, 2, 3])", {"x": (4, 2)}, True),
    ("any_of(x, [1, 2, 3])", {"x": (4,)}, False),
    ("any_of(x, [1, 2, 3])", {"x": 2}, True),
    ("any_of(x, [1, 2, 3])", {}, False),
    ("any_of(x, [1, 2, 3])", {"x": DK}, False),
    ("any_of(x, [DK, REF])", {"x": REF}, True),
    ("any_of(x, [])", {"x": (1,)}, False),
    ("any_of(S3, [1, 2, 3])", {"S3": (5, 3)}, True),
    ("all_of(x, [1, 3])", {"x": (1, 3, 4)}, True),
    ("all_of(x, [1, 3])", {"x": (1,)}, False),
    ("all_of(x, [1, 3])", {"x": 1}, False),
    ("all_of(x, [1])", {"x": 1}, True),
    ("all_of(x, [1])", {}, False),
    ("all_of(x, [1])", {"x": DK}, False),
    ("all_of(x, [])", {"x": (1,)}, True),
    ("all_of(x, 3)", {"x": (3,)}, True),
    ("count(x)", {"x": (1, 3)}, 2),
    ("count(x)", {"x": ()}, 0),
    ("count(x)", {}, 0),
    ("count(x)", {"x": DK}, 0),
    ("count(x)", {"x": 5}, 1),
    ("count([1, null, DK, 2])", {}, 2),
    # aggregates skip null and specials; nothing left gives null
    ("sum(a, b, c)", {"a": 1, "c": 2}, 3),
    ("sum(a, b)", {"b": DK}, None),
    ("sum(a)", {}, None),
    ("sum([1, 2, 3])", {}, 6),
    ("sum(K1)", {"K1": (1, 3)}, 4),
    ("sum(a, 'x', 2)", {"a": 1}, 3),
    ("sum(a, b)", {"a": 1.5, "b": 2}, 3.5),
    ("sum(true, false, true)", {}, 2),
    ("sum(a, b)", {"a": 1e308, "b": 1e308}, None),
    ("max(C1_1, C1_2, C1_3)", {"C1_1": 2, "C1_2": DK, "C1_3": 4}, 4),
    ("max(C1_1, C1_2)", {"C1_2": REF}, None),
    ("min(1, null, -2.5)", {}, -2.5),
    ("min([3, 2], 5)", {}, 2),
    ("max([])", {}, None),
    ("max(null)", {}, None),
    ("mean(1, 2, null, DK)", {}, 1.5),
    ("mean([2, 4])", {}, 3.0),
    ("mean(null, NA)", {}, None),
    ("abs(x)", {"x": -3}, 3),
    ("abs(x)", {"x": -2.5}, 2.5),
    ("abs(x)", {}, None),
    ("abs(x)", {"x": DK}, None),
    ("abs(x)", {"x": "a"}, None),
    # round: half away from zero on the decimal digits; n defaults to 0
    ("round(2.5)", {}, 3),
    ("round(-2.5)", {}, -3),
    ("round(2.4)", {}, 2),
    ("round(2.675, 2)", {}, 2.68),
    ("round(2.45, 1)", {}, 2.5),
    ("round(1234, -2)", {}, 1200),
    ("round(1250, -2)", {}, 1300),
    ("round(x, 1)", {"x": 3}, 3),
    ("round(x)", {}, None),
    ("round(x)", {"x": REF}, None),
    ("round(x, 'a')", {"x": 1.5}, None),
    ("round(x, 1.5)", {"x": 1.5}, None),
    ("round(x, n)", {"x": 1.5}, None),
    ("round(1e300, 15)", {}, 1e300),
    ("round(x)", {"x": float("nan")}, None),
    # between is inclusive and false for null/special
    ("between(x, 18, 74)", {"x": 18}, True),
    ("between(x, 18, 74)", {"x": 74}, True),
    ("between(x, 18, 74)", {"x": 44.5}, True),
    ("between(x, 18, 74)", {"x": 17}, False),
    ("between(x, 18, 74)", {"x": 75}, False),
    ("between(x, 18, 74)", {}, False),
    ("between(x, 18, 74)", {"x": DK}, False),
    ("between(x, 18, 74)", {"x": "20"}, False),
    ("between(x, null, 74)", {"x": 20}, False),
    ("between(x, d, e)", {"x": dt.date(2000, 3, 5), "d": D1, "e": D2}, True),
    ("not between(S1, 18, 74)", {"S1": 80}, True),
    # iif
    ("iif(x > 1, 'a', 'b')", {"x": 2}, "a"),
    ("iif(x > 1, 'a', 'b')", {}, "b"),
    ("iif(x, 1, 0)", {"x": DK}, 0),
    ("iif(N1 >= 9, 3, iif(N1 >= 7, 2, 1))", {"N1": 9}, 3),
    ("iif(N1 >= 9, 3, iif(N1 >= 7, 2, 1))", {"N1": 7}, 2),
    ("iif(N1 >= 9, 3, iif(N1 >= 7, 2, 1))", {"N1": 0}, 1),
    ("iif(K3 in [1, 2], 1, 0)", {"K3": 2}, 1),
    # len
    ("len(x)", {"x": "abc"}, 3),
    ("len(x)", {"x": ""}, 0),
    ("len(x)", {"x": (1, 2)}, 2),
    ("len([1, 2, 3])", {}, 3),
    ("len(x)", {}, None),
    ("len(x)", {"x": DK}, None),
    ("len(x)", {"x": 5}, None),
    # matches: re.search with the author's anchors; null/special subjects are false
    ("matches(x, '^[0-9]{5}$')", {"x": "12345"}, True),
    ("matches(x, '^[0-9]{5}$')", {"x": "1234"}, False),
    ("matches(x, '^[0-9]{5}$')", {"x": "123456"}, False),
    ("matches(x, '^[0-9]{5}$')", {"x": "ab12345"}, False),
    ("matches(x, '^[0-9]{5}$')", {"x": 12345}, True),
    ("matches(x, '^[0-9]{5}$')", {}, False),
    ("matches(x, '^[0-9]{5}$')", {"x": DK}, False),
    ("matches(x, '^[0-9]{5}$')", {"x": 1.5}, False),
    ("matches(x, '^[0-9]{5}$')", {"x": True}, False),
    ("matches(x, 'b')", {"x": "abc"}, True),
    ("matches(x, '^\\d+$')", {"x": "123"}, True),
    ("matches(x, '(?i)^ja$')", {"x": "JA"}, True),
    ("matches(F3, '^[+0-9 /-]{6,30}$')", {"F3": "+49 40 123456"}, True),
    ("matches(F3, '^[+0-9 /-]{6,30}$')", {"F3": "040-abc"}, False),
    ("matches(x, 'ü')", {"x": "Müller"}, True),
    # dates
    ("today()", {}, TODAY),
    ("today() - d", {"d": D1}, (TODAY - D1).days),
    ("age(d)", {"d": dt.date(2000, 3, 1)}, 25),
    ("age(d)", {"d": dt.date(2000, 3, 2)}, 24),
    ("age(d)", {"d": dt.date(2004, 2, 29)}, 21),
    ("age(d)", {"d": "2000-03-01"}, 25),
    ("age(d)", {"d": "garbage"}, None),
    ("age(d)", {}, None),
    ("age(d)", {"d": DK}, None),
    ("age(d)", {"d": 5}, None),
    ("year(d)", {"d": D1}, 2000),
    ("year(d)", {"d": "1999-12-31"}, 1999),
    ("year(d)", {}, None),
    ("year(d)", {"d": REF}, None),
    ("year(today())", {}, 2025),
    # loops
    ("$code != 96", {}, True),
    ("$code", {}, 3),
    ("$label", {}, "Swapfiets"),
    ("$label + ' (' + x + ')'", {"x": "neu"}, "Swapfiets (neu)"),
]


@pytest.mark.parametrize(("source", "values", "expected"), CASES, ids=[f"{c[0]} {c[1]}" for c in CASES])
def test_evaluation_table(source, values, expected):
    result = run(source, values, loop_code=3, loop_label="Swapfiets")
    assert same(result, expected), f"{source} with {values} gave {result!r}, expected {expected!r}"


def test_age_on_feb_28_of_a_non_leap_year_for_a_leap_day_birthday():
    born = {"d": dt.date(2004, 2, 29)}
    assert run("age(d)", born, today=dt.date(2025, 2, 28)) == 20
    assert run("age(d)", born, today=dt.date(2025, 3, 1)) == 21


def test_today_defaults_to_the_real_date():
    assert parse("today()").evaluate(Env({}.get)) == dt.date.today()


def test_loop_refs_outside_a_loop_are_null():
    assert parse("$code").evaluate(Env({}.get)) is None
    assert parse("$label == null").evaluate(Env({}.get)) is True


class Recorder:
    """A lookup that records which names were read, to prove laziness."""

    def __init__(self, **values):
        self.values = values
        self.read: list[str] = []

    def __call__(self, name):
        self.read.append(name)
        return self.values.get(name)


@pytest.mark.parametrize(
    ("source", "values", "unread"),
    [
        ("false and x", {}, "x"),
        ("a and x", {"a": None}, "x"),
        ("true or x", {}, "x"),
        ("a or x", {"a": 1}, "x"),
        ("a and b and x", {"a": 1, "b": DK}, "x"),
        ("iif(c, a, x)", {"c": 1, "a": 2}, "x"),
        ("iif(c, x, b)", {"c": DK, "b": 2}, "x"),
        ("1 > a < x", {"a": 3}, "x"),
    ],
)
def test_short_circuit_and_lazy_iif(source, values, unread):
    lookup = Recorder(**values)
    parse(source).evaluate(Env(lookup))
    assert unread not in lookup.read


# ----------------------------------------------------------------------------- functions using Env

def test_label_passes_the_variable_name_and_value_to_the_callback():
    calls = []

    def label(name, value):
        calls.append((name, value))
        return "Frau" if value == 2 else None

    expr = parse("label(S2)")
    assert expr.evaluate(Env({"S2": 2}.get, label=label)) == "Frau"
    assert calls == [("S2", 2)]
    assert expr.evaluate(Env({}.get, label=label)) is None  # null: callback not asked
    assert len(calls) == 1
    assert expr.evaluate(Env({"S2": DK}.get, label=lambda n, v: f"{n}:{v}")) == "S2:DK"
    assert expr.evaluate(Env({"S2": 2}.get)) is None  # no label source: null


def test_quota_open_asks_the_callback_with_the_id_and_defaults_to_open():
    asked = []

    def gate(quota):
        asked.append(quota)
        return quota != "full"

    assert parse("quota_open('full')").evaluate(Env({}.get, quota_open=gate)) is False
    assert parse("quota_open(age_gender)").evaluate(Env({}.get, quota_open=gate)) is True
    assert parse("quota_open('q.cell')").evaluate(Env({}.get, quota_open=gate)) is True
    assert asked == ["full", "age_gender", "q.cell"]
    assert parse("quota_open('full')").evaluate(Env({}.get)) is True


def test_random_pick_is_reproducible_with_the_rng():
    expr = parse("random_pick([29, 39, 49, 59])", allow_random=True)
    drawn = [expr.evaluate(Env({}.get, rng=random.Random(seed))) for seed in range(40)]
    assert drawn == [random.Random(seed).choice([29, 39, 49, 59]) for seed in range(40)]
    assert set(drawn) == {29, 39, 49, 59}


@pytest.mark.parametrize(
    ("source", "values", "allowed"),
    [
        ("random_pick([])", {}, {None}),
        ("random_pick(x)", {}, {None}),
        ("random_pick(x)", {"x": 5}, {None}),
        ("random_pick([null, DK, 5])", {}, {5}),
        ("random_pick(K1)", {"K1": (1, 3)}, {1, 3}),
        ("random_pick(['a', 'b'])", {}, {"a", "b"}),
        ("random_int(1, 3)", {}, {1, 2, 3}),
        ("random_int(2, 2)", {}, {2}),
        ("random_int(5, 1)", {}, {None}),
        ("random_int(x, 3)", {}, {None}),
        ("random_int(x, 3)", {"x": DK}, {None}),
        ("random_int(1.5, 3)", {}, {None}),
    ],
)
def test_random_functions(source, values, allowed):
    expr = parse(source, allow_random=True)
    seen = {expr.evaluate(Env(values.get, rng=random.Random(seed))) for seed in range(60)}
    assert seen == allowed


def test_random_without_an_rng_still_draws():
    assert parse("random_int(1, 6)", allow_random=True).evaluate(Env({}.get)) in range(1, 7)


def test_random_int_is_reproducible():
    expr = parse("random_int(1, 1000)", allow_random=True)
    assert expr.evaluate(Env({}.get, rng=random.Random(7))) == random.Random(7).randint(1, 1000)


# ----------------------------------------------------------------------------- specials, truthy, helpers

def test_specials_are_three_named_singletons():
    assert ex.SPECIALS == {"DK": DK, "REF": REF, "NA": NA}
    assert [str(s) for s in (DK, REF, NA)] == ["DK", "REF", "NA"]
    assert repr(REF) == "REF"
    assert Special("DK") is DK
    assert pickle.loads(pickle.dumps(NA)) is NA  # noqa: S301 - our own bytes
    assert copy.deepcopy(REF) is REF
    with pytest.raises(ValueError):
        Special("XX")
    with pytest.raises(AttributeError):
        DK.name = "REF"


@pytest.mark.parametrize("special", [DK, REF, NA])
@pytest.mark.parametrize("other", [0, 1, 97, 98, 99, "DK", "REF", "NA", None, True, False, ()])
def test_specials_equal_nothing_but_themselves(special, other):
    assert special != other
    assert special == special
    assert not special


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), (DK, False), (REF, False), (NA, False), (0, False), (0.0, False), ("", False),
     ((), False), ([], False), (False, False), (1, True), (-1.5, True), ("0", True), ((0,), True),
     ([0], True), (D1, True), (True, True)],
)
def test_truthy(value, expected):
    assert ex.truthy(value) is expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"P1": 10, "P2": 20}, False),
        ({"P1": 10}, True),
        ({"P1": 10, "P2": DK}, True),
        ({"P1": REF, "P2": 5}, True),
        ({"P1": 0, "P2": ""}, False),
    ],
)
def test_references_unanswered(values, expected):
    expr = parse("P1 <= P2 and is_dk(DK)")
    assert ex.references_unanswered(expr, values.get) is expected


def test_references_unanswered_ignores_literals_specials_and_loop_refs():
    lookup = Recorder()
    assert ex.references_unanswered(parse("$code == DK or true or null == 1"), lookup) is False
    assert lookup.read == []


# ----------------------------------------------------------------------------- Expr metadata

def test_expr_records_what_it_refers_to():
    expr = parse("S2 == 1 and label(K1) != 'x' and quota_open(q1) and quota_open('q2.c') "
                 "and $code == 1 and x == DK and true and count(K2) > 0 and $label")
    assert expr.names == frozenset({"S2", "K1", "x", "K2"})
    assert expr.functions == frozenset({"label", "quota_open", "count"})
    assert expr.uses_loop is True
    assert expr.is_random is False
    assert expr.label_args == frozenset({"K1"})
    assert expr.quota_refs == frozenset({"q1", "q2.c"})


def test_expr_without_loop_or_random():
    expr = parse("sum(a, b) > 2")
    assert expr.uses_loop is False
    assert expr.names == frozenset({"a", "b"})
    assert expr.functions == frozenset({"sum"})
    assert expr.label_args == frozenset()
    assert expr.quota_refs == frozenset()
    assert parse("random_int(1, x)", allow_random=True).is_random is True
    assert parse("random_int(1, x)", allow_random=True).names == frozenset({"x"})


def test_expr_is_immutable_hashable_and_compares_by_source():
    expr = parse("x + 1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        expr.source = "y"  # type: ignore[misc]
    assert expr == parse("x + 1")
    assert expr != parse("x+1")
    assert len({expr, parse("x + 1")}) == 1
    assert expr.source == "x + 1"
    assert "x + 1" in repr(expr)


def test_expr_survives_pickle_and_deepcopy():
    expr = parse("random_pick([1, 2]) + x", allow_random=True)
    for clone in (pickle.loads(pickle.dumps(expr)), copy.deepcopy(expr)):  # noqa: S301 - our own bytes
        assert clone == expr
        assert clone.is_random
        assert clone.evaluate(Env({"x": 10}.get, rng=random.Random(1))) in (11, 12)


def test_module_level_evaluate():
    assert ex.evaluate(parse("x * 2"), Env({"x": 4}.get)) == 8


def test_env_keeps_what_it_was_given():
    def lookup(name):
        return None

    rng = random.Random(1)
    env = Env(lookup, loop_code=3, loop_label="A", today=TODAY, rng=rng, lang="en")
    assert (env.lookup, env.loop_code, env.loop_label, env.today, env.rng, env.lang) == (
        lookup, 3, "A", TODAY, rng, "en")
    assert Env(lookup).lang == "de"
    with pytest.raises(AttributeError):
        env.other = 1  # slots: no stray attributes
    with pytest.raises(TypeError):
        Env(lookup, None)  # everything after lookup is keyword-only


def test_reserved_words_and_function_names_are_published():
    assert {"true", "false", "null", "DK", "REF", "NA", "and", "not", "in"} <= ex.RESERVED_WORDS
    assert {"answered", "matches", "random_pick", "quota_open", "iif"} <= ex.FUNCTIONS
    assert "S1" not in ex.RESERVED_WORDS
    # Python keywords the spec does not use are allowed as ids (§2); only an expression naming one fails
    assert not {"class", "return", "from", "global", "pass", "for", "is", "as"} & ex.RESERVED_WORDS


# ----------------------------------------------------------------------------- infer_type

@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("'a'", "string"), ("label(x)", "string"), ("'a' + x", "string"), ("x + 'a'", "string"),
        ("a + b + 'c'", "string"), ("$label", "string"),
        ("1", "numeric"), ("1.5", "numeric"), ("x + 1", "numeric"), ("x / y", "numeric"), ("-x", "numeric"),
        ("sum(a, b)", "numeric"), ("max(a)", "numeric"), ("count(K1)", "numeric"), ("len(t)", "numeric"),
        ("age(d)", "numeric"), ("round(x, 1)", "numeric"), ("random_int(1, 6)", "numeric"),
        ("random_pick([1, 2.5])", "numeric"), ("random_pick(['a', 'b'])", "string"), ("$code", "numeric"),
        ("x > 1", "boolean"), ("a and b", "boolean"), ("not x", "boolean"), ("true", "boolean"),
        ("answered(x)", "boolean"), ("matches(x, 'a')", "boolean"), ("x in [1]", "boolean"),
        ("iif(c, 1, 2)", "numeric"), ("iif(c, 'a', 'b')", "string"), ("iif(c, null, 2)", "numeric"),
        ("iif(c, 1, 'a')", "unknown"), ("iif(x, x, true)", "unknown"), ("iif(c, null, x)", "unknown"),
        ("x", "unknown"), ("null", "unknown"), ("today()", "unknown"),
        ("[1, 2]", "list"), ("random_pick(K1)", "unknown"), ("random_pick([1, 'a'])", "unknown"),
    ],
)
def test_infer_type(source, expected):
    assert ex.infer_type(parse(source, allow_random=True)) == expected


def test_infer_type_uses_known_variable_types():
    types = {"x": "string", "n": "numeric"}
    assert ex.infer_type(parse("x"), name_types=types) == "string"
    assert ex.infer_type(parse("iif(c, x, 'b')"), name_types=types) == "string"
    assert ex.infer_type(parse("n"), name_types=types) == "numeric"
    assert ex.infer_type(parse("y"), name_types=types) == "unknown"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("today()", "date"), ("today() + 14", "date"), ("14 + today()", "date"), ("d - 7", "date"),
        ("d + x - 1", "date"), ("today() - d", "numeric"), ("d - today() + 3", "numeric"),
        ("iif(c, d, today() + 1)", "date"), ("iif(c, null, d)", "date"), ("iif(c, d, 1)", "unknown"),
        ("d * 2", "numeric"), ("age(d)", "numeric"), ("'a' + d", "string"), ("x + 1", "numeric"),
    ],
)
def test_infer_type_with_dates(source, expected):
    assert ex.infer_type(parse(source), name_types={"d": "date"}, dates=True) == expected
    assert ex.infer_type(parse(source), name_types={"d": "date"}) != "date"  # the default never says date


# ----------------------------------------------------------------------------- parse errors

ERRORS = [
    # (source, offset, words the message must contain)
    ("x.y", 1, "attribute access"),
    ("x . y == 1", 1, "attribute access"),
    ("x[0]", 1, "subscripts"),
    ("lambda: 1", 0, "lambda"),
    ("x ** 2", 2, "'**'"),
    ("x // 2", 2, "'//'"),
    ("x & y", 2, "use 'and'"),
    ("x | y", 2, "use 'or'"),
    ("x ^ y", 2, "'^'"),
    ("x << 1", 2, "'<<'"),
    ("x @ y", 2, "'@'"),
    ("~x", 0, "'~'"),
    ("x is None", 2, "'is'"),
    ("x is not None", 2, "'is not'"),
    ("[y for y in x]", 0, "comprehensions"),
    ("sum(y for y in x)", 3, "comprehensions"),
    ("{y: 1 for y in x}", 0, "comprehensions"),
    ("foo(1)", 0, "unknown function 'foo'"),
    ("x(1)", 0, "unknown function 'x'"),
    ("DK(1)", 0, "unknown function 'DK'"),
    ("__import__('os')", 0, "unknown function '__import__'"),
    ("1 + $code(1)", 4, "unknown function '$code'"),
    ("(x)(1)", 0, "unknown function 'x'"),
    ("iif(c, f, g)(1)", 0, "only the functions"),
    ("x.y(1)", 0, "only the functions"),
    ("round(x, ndigits=1)", 9, "keyword arguments are not allowed"),
    ("round(x, **k)", 9, "unpacking"),
    ("sum(*x)", 4, "unpacking"),
    ("x if y else z", 0, "iif"),
    ("(x := 1)", 1, "assignment"),
    ("f'{x}'", 0, "f-strings"),
    ("(1, 2)", 0, "tuples"),
    ("x, y", 0, "tuples"),
    ("{1, 2}", 0, "sets"),
    ("{1: 2}", 0, "dictionaries"),
    ("await x", 0, "'await'"),
    ("(yield)", 1, "'yield'"),
    ("1j", 0, "complex"),
    ("b'x'", 0, "bytes"),
    ("...", 0, "'...'"),
    ("1e999", 0, "too large"),
    ("[[1]]", 1, "cannot contain another list"),
    ("x" * 2001, 2000, "longer than 2000"),
    ("(" * 51 + "x" + ")" * 51, 50, "nested too deeply"),
    ("[" * 60 + "]" * 60, 50, "nested too deeply"),
    ("not " * 60 + "x", 200, "nested too deeply"),
    ("-" * 60 + "1", 50, "nested too deeply"),
    ("sum(" * 51 + ")" * 51, 203, "nested too deeply"),
    ("$foo == 1", 0, "unknown loop reference '$foo'"),
    ("x == $codes", 5, "unknown loop reference '$codes'"),
    ("$ == 1", 0, "'$' must be followed"),
    ("x$code", 1, "'$'"),
    ("_x", 0, "invalid name"),
    ("_code", 0, "invalid name"),
    ("1 + ä", 4, "invalid name"),
    ("random_pick([1, 2])", 0, "random_pick() is only allowed in computed questions"),
    ("1 + random_int(1, 2)", 4, "random_int() is only allowed in computed questions"),
    ("matches(x, y)", 11, "string literal"),
    ("matches(x, 'a' + 'b')", 11, "string literal"),
    ("matches(x, '(a+)+$')", 11, "another repetition"),
    ("matches(x, '(a*)*b')", 11, "another repetition"),
    ("matches(x, '(\\d+-?)+$')", 11, "another repetition"),
    ("matches(x, '(a|ab)*c')", 11, "alternatives"),
    ("matches(x, r'(a)\\1')", 11, "backreferences"),
    ("matches(x, '(?P<a>x)(?P=a)')", 11, "backreferences"),
    ("matches(x, 'a*a*a*a*b')", 11, "too many repetitions"),
    ("matches(x, '" + "a" * 201 + "')", 11, "longer than 200"),
    ("matches(x, '[')", 11, "invalid regular expression"),
    ("matches(x)", 0, "matches() takes exactly 2 arguments"),
    ("label(1)", 6, "name of a variable"),
    ("label(DK)", 6, "name of a variable"),
    ("label($code)", 6, "name of a variable"),
    ("label(x + 1)", 6, "name of a variable"),
    ("label(x, y)", 0, "label() takes exactly 1 argument"),
    ("label()", 0, "label() takes exactly 1 argument"),
    ("round()", 0, "round() takes 1 or 2 arguments"),
    ("round(1, 2, 3)", 0, "round() takes 1 or 2 arguments"),
    ("today(1)", 0, "today() takes no arguments"),
    ("selected(x)", 0, "selected() takes at least 2 arguments"),
    ("sum()", 0, "sum() takes at least 1 argument"),
    ("between(x, 1)", 0, "between() takes exactly 3 arguments"),
    ("iif(x, 1)", 0, "iif() takes exactly 3 arguments"),
    ("quota_open(1)", 11, "quota id"),
    ("quota_open(q + 1)", 11, "quota id"),
    ("", 0, "empty"),
    ("   ", 0, "empty"),
    ("S1 = 3", 3, "'=' is not a comparison; use '=='"),
    ("x && y", 2, "use 'and'"),
    ("x || y", 2, "use 'or'"),
    ("!x", 0, "use 'not'"),
    ("x # note", 2, "comments"),
    ("x == 'abc", 5, "not closed"),
    ("'''a'''", 0, "triple-quoted"),
    ("'a\nb'", 0, "must end on the line"),
    ("x\x00", 1, "control character"),
    ("'ä' + x.y", 7, "attribute access"),
    ("'äöü' ** 2", 6, "'**'"),
    ("  x ** 2", 4, "'**'"),
    ("x ==\n y ** 2", 8, "'**'"),
    ("1 +", 0, "syntax error"),
    ("x y", 2, "syntax error"),
    ("(x", 0, "syntax error"),
    ("x)", 1, "syntax error"),
    ("x ‘a’", 2, "syntax error"),
]


@pytest.mark.parametrize(("source", "offset", "words"), ERRORS, ids=[repr(e[0])[:50] for e in ERRORS])
def test_parse_errors(source, offset, words):
    with pytest.raises(ExpressionError) as caught:
        parse(source)
    error = caught.value
    assert words in error.message
    assert error.offset == offset
    assert str(error) == error.message
    assert isinstance(error, ValueError)
    assert error.message[0].islower() or error.message[0] in "'$!"


@pytest.mark.parametrize(
    "source",
    [
        "(" * 10_000 + "x" + ")" * 10_000,
        "(" * 999 + "x" + ")" * 999,
        "not " * 499 + "x",
        "-" * 1999 + "1",
        "[" * 1999,
        "x" + ".y" * 999,
        "f(" * 666,
        "iif(x, 1, " * 150 + "2" + ")" * 150,
    ],
    ids=["10000 parens", "999 parens", "499 nots", "1999 minus", "1999 brackets", "999 attributes",
         "666 calls", "150 iifs"],
)
def test_pathological_nesting_gives_expression_error(source):
    with pytest.raises(ExpressionError, match=r"too deeply|longer than|syntax error|not allowed"):
        parse(source)


def test_long_flat_chains_are_not_nesting():
    source = "x + " * 450 + "x"
    assert parse(source).evaluate(Env({"x": 1}.get)) == 451
    texts = "x == " + "'a' + " * 330 + "'a'"
    assert parse(texts).evaluate(Env({"x": "a" * 331}.get)) is True
    chained = " and ".join(f"v{i} <= v{i + 1}" for i in range(120))
    assert parse(chained).evaluate(Env(lambda name: int(name[1:]))) is True


def test_nesting_of_exactly_fifty_is_fine():
    assert parse("(" * 50 + "x" + ")" * 50).evaluate(Env({"x": 3}.get)) == 3
    assert parse("-" * 49 + "1").evaluate(Env({}.get)) == -1


def test_random_is_allowed_only_with_allow_random():
    assert parse("random_int(1, 2)", allow_random=True).is_random
    with pytest.raises(TypeError):
        parse("random_int(1, 2)", True)  # type: ignore[misc]  # keyword-only


def test_non_text_source_is_an_expression_error():
    with pytest.raises(ExpressionError):
        parse(12)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- matches() is bounded

@pytest.mark.parametrize(
    ("pattern", "subject"),
    [
        ("a*b", "a" * 32767),
        ("a*a*b", "a" * 32767),
        ("^a*a*a*b", "a" * 32767),
        (".*x.*y", "x" * 32767),
        ("^[^@ ]+@[^@ ]+\\.[a-z]{2,}$", "a@" * 16000),
        ("^(?=.*\\d)(?=.*[a-z]).{8,}", "A" * 32767),
        ("^(\\w+\\s?)$", "a" * 32767),
    ],
)
def test_accepted_patterns_run_in_bounded_time(pattern, subject):
    expr = parse(f"matches(x, '{pattern}')")
    started = time.perf_counter()
    expr.evaluate(Env({"x": subject}.get))
    assert time.perf_counter() - started < 0.5


def test_matches_looks_only_at_the_first_32767_characters():
    expr = parse("matches(x, 'z')")
    assert expr.evaluate(Env({"x": "a" * 32766 + "z"}.get)) is True
    assert expr.evaluate(Env({"x": "a" * 32767 + "z"}.get)) is False


# ----------------------------------------------------------------------------- the example questionnaires

@pytest.mark.parametrize(
    "source",
    [
        "S2 == 1 and S1 <= 44", "S2 == 2 and S1 >= 45", "S2 == 3 or is_ref(S2)", "not between(S1, 18, 74)",
        "any_of(S3, [1, 2, 3])", "S4 == 3 or is_dk(S4)", "$code != 96", "answered(K3)",
        "iif(K3 in [1, 2], 1, 0)", "K3 != 5", "P1 <= P2 and P2 <= P3 and P3 <= P4", "D1 <= 8", "D1 > 1",
        "D2 <= D1 - 1", "matches(D4, '^[0-9]{5}$')", "A1 == 2", "iif(N1 >= 9, 3, iif(N1 >= 7, 2, 1))",
        "answered(N1)", "N1_band == 3", "montage == 1", "max(C1_1, C1_2, C1_3, C1_4, C1_5)",
        "N1_band == 1 or C1_min >= 4", "matches(F3, '^[+0-9 /-]{6,30}$')", "F2 == 1", "D1 - 1",
    ],
)
def test_example_expressions_parse_and_run_on_empty_interviews(source):
    expr = parse(source)
    expr.evaluate(Env({}.get))
    assert not expr.is_random


def test_example_random_pick_parses_for_computed_questions():
    expr = parse("random_pick([29, 39, 49, 59])", allow_random=True)
    assert expr.is_random
    assert expr.functions == frozenset({"random_pick"})
