"""Property tests: parse only ever raises ExpressionError, and evaluation never raises at all."""

from __future__ import annotations

import ast
import datetime as dt
import random

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cati.questionnaires import expressions as ex
from cati.questionnaires.expressions import DK, NA, REF, Env, ExpressionError, Special, parse

NAMES = ["x", "y", "K1", "S2", "d", "t"]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ----------------------------------------------------------------------------- values and environments

multi = st.lists(st.integers(0, 99), max_size=5, unique=True).map(tuple)
values = st.one_of(
    st.none(),
    st.sampled_from([DK, REF, NA]),
    st.integers(-1000, 1000),
    st.integers(),
    st.integers(min_value=10**300, max_value=10**320),
    st.floats(),
    st.booleans(),
    st.text(max_size=12),
    st.dates(),
    multi,
    st.lists(st.one_of(st.integers(0, 9), st.none(), st.sampled_from([DK, REF])), max_size=4),
)


@st.composite
def environments(draw):
    data = {name: draw(values) for name in NAMES}
    return Env(
        data.get,
        label=lambda name, value: f"{name}={value!r}",
        quota_open=lambda quota: len(quota) % 2 == 0,
        loop_code=draw(st.one_of(st.none(), st.integers(0, 99))),
        loop_label=draw(st.one_of(st.none(), st.text(max_size=8))),
        today=draw(st.one_of(st.none(), st.dates())),
        rng=random.Random(draw(st.integers(0, 2**32))),
    )


VALUE_TYPES = (type(None), Special, int, float, bool, str, dt.date, tuple, list)

# ----------------------------------------------------------------------------- sources from our grammar

ARITIES = {
    "answered": [1], "special": [1], "is_dk": [1], "is_ref": [1], "is_na": [1], "selected": [2, 3],
    "any_of": [2], "all_of": [2], "count": [1], "sum": [1, 2, 3], "min": [1, 3], "max": [2], "mean": [1, 2],
    "abs": [1], "round": [1, 2], "between": [3], "iif": [3], "len": [1], "today": [0], "age": [1],
    "year": [1], "random_pick": [1], "random_int": [2],
}
PATTERNS = ["^[0-9]{5}$", "a", "^\\d+$", "(a+)+", "x*y*", "[", "(?i)^ja$", "^(\\w+\\s?)*$", "a|b"]
BINARY = ["+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "in", "not in", "and", "or",
          "**", "//", "&", "is", "="]
UNARY = ["not ", "-", "+", "~", "!"]

leaf_sources = st.one_of(
    st.sampled_from([*NAMES, "true", "false", "null", "DK", "REF", "NA", "$code", "$label", "True", "None",
                     "$foo", "_x", "today()"]),
    st.integers(-1000, 10**25).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(alphabet="ab$'\"\\ü{}0 ", max_size=6).map(repr),
)


def _call(parts: tuple[str, list[str]]) -> str:
    return f"{parts[0]}({', '.join(parts[1])})"


def _extend(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    valid_calls = st.sampled_from(sorted(ARITIES)).flatmap(
        lambda name: st.sampled_from(ARITIES[name]).flatmap(
            lambda n: st.lists(children, min_size=n, max_size=n).map(lambda args: _call((name, args)))))
    return st.one_of(
        st.tuples(children, st.sampled_from(BINARY), children).map(" ".join),
        st.tuples(st.sampled_from(UNARY), children).map("".join),
        children.map(lambda c: f"({c})"),
        st.lists(children, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
        valid_calls,
        valid_calls,
        st.tuples(st.sampled_from([*sorted(ARITIES), "label", "foo"]), st.lists(children, max_size=4)).map(_call),
        st.tuples(children, st.sampled_from(PATTERNS)).map(lambda t: f"matches({t[0]}, {t[1]!r})"),
        st.sampled_from(NAMES).map(lambda n: f"label({n})"),
        st.sampled_from(["q1", "'q2'"]).map(lambda q: f"quota_open({q})"),
        st.tuples(children, st.sampled_from([".real", "[0]", "(1)", " if x else y", "(n=1)"])).map("".join),
    )


sources = st.recursive(leaf_sources, _extend, max_leaves=25)


def check_evaluation(expr: ex.Expr, env: Env) -> None:
    """Evaluation never raises, yields a value of the model, is repeatable and fits infer_type."""
    result = expr.evaluate(env)
    assert isinstance(result, VALUE_TYPES), (expr.source, result)
    if not expr.is_random:
        assert _same(expr.evaluate(env), result)
    kind = ex.infer_type(expr)
    if kind == "boolean":  # iif(c, true, null) may still give null
        assert result is None or type(result) is bool, (expr.source, result)
    if expr.names or expr.uses_loop:
        return  # a variable's value can defeat the static guess ('a' + 'b' looks numeric as x + y)
    if kind == "string":
        assert result is None or type(result) is str, (expr.source, result)
    elif kind == "numeric":
        assert result is None or isinstance(result, int | float | dt.date), (expr.source, result)


def _same(a, b) -> bool:
    return a is b or a == b or (a != a and b != b)  # NaN equals itself here


@SETTINGS
@given(source=sources, env=environments(), allow_random=st.booleans())
def test_grammar_sources_parse_or_fail_cleanly_and_never_raise_when_run(source, env, allow_random):
    try:
        expr = parse(source, allow_random=allow_random)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(source)
        assert error.message
        return
    assert expr.source == source
    assert expr.names <= set(NAMES)
    check_evaluation(expr, env)


@SETTINGS
@given(source=st.text(alphabet="xyK1S2 ()[]'\"$.,+-*/%<>=!&|~#:\\\n\tä‘\x00codelabnt", max_size=60))
def test_random_text_only_raises_expression_error(source):
    try:
        expr = parse(source, allow_random=True)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(source)
        return
    expr.evaluate(Env({}.get))


@SETTINGS
@given(source=st.text(max_size=80))
def test_any_unicode_text_only_raises_expression_error(source):
    try:
        parse(source)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(source)


# ----------------------------------------------------------------------------- sources from random Python ASTs

LOAD = ast.Load()
OPERATORS = [ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.Pow, ast.FloorDiv, ast.MatMult, ast.BitAnd,
             ast.BitOr, ast.BitXor, ast.LShift, ast.RShift]
COMPARISONS = [ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn, ast.Is, ast.IsNot]
UNARIES = [ast.Not, ast.USub, ast.UAdd, ast.Invert]

good_leaves = st.one_of(
    st.builds(ast.Name, id=st.sampled_from([*NAMES, "true", "null", "DK"]), ctx=st.just(LOAD)),
    st.builds(ast.Constant, value=st.one_of(st.integers(), st.floats(), st.text(max_size=5), st.booleans())),
)
ast_leaves = st.one_of(
    good_leaves,
    st.builds(ast.Name, id=st.sampled_from(["_x", "sum", "ä"]), ctx=st.just(LOAD)),
    st.builds(ast.Constant, value=st.one_of(
        st.none(), st.binary(max_size=3), st.complex_numbers(max_magnitude=10), st.just(...))),
)


def _ast_extend(ch: st.SearchStrategy[ast.expr], forbidden: bool = True) -> st.SearchStrategy[ast.expr]:
    def of(classes):
        return st.sampled_from(classes).map(lambda cls: cls())

    func = st.one_of(st.builds(ast.Name, id=st.sampled_from([*sorted(ex.FUNCTIONS), "foo"]), ctx=st.just(LOAD)), ch)
    arg = st.one_of(ch, ch, st.builds(ast.Starred, value=ch, ctx=st.just(LOAD)))
    no_args = ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
                            defaults=[])
    allowed = st.one_of(
        st.builds(ast.BinOp, left=ch, op=of(OPERATORS[:5]), right=ch),
        st.builds(ast.UnaryOp, op=of(UNARIES[:3]), operand=ch),
        st.builds(ast.BoolOp, op=of([ast.And, ast.Or]), values=st.lists(ch, min_size=2, max_size=3)),
        st.lists(st.tuples(of(COMPARISONS[:8]), ch), min_size=1, max_size=3).flatmap(
            lambda pairs: ch.map(lambda left: ast.Compare(left=left, ops=[p[0] for p in pairs],
                                                          comparators=[p[1] for p in pairs]))),
        st.sampled_from(sorted(ARITIES)).flatmap(lambda name: st.sampled_from(ARITIES[name]).flatmap(
            lambda n: st.lists(ch, min_size=n, max_size=n).map(
                lambda args: ast.Call(func=ast.Name(id=name, ctx=LOAD), args=args, keywords=[])))),
        st.builds(ast.List, elts=st.lists(ch, max_size=3), ctx=st.just(LOAD)),
    )
    if not forbidden:
        return allowed
    return st.one_of(
        allowed,
        st.builds(ast.BinOp, left=ch, op=of(OPERATORS), right=ch),
        st.builds(ast.UnaryOp, op=of(UNARIES), operand=ch),
        st.lists(st.tuples(of(COMPARISONS), ch), min_size=1, max_size=3).flatmap(
            lambda pairs: ch.map(lambda left: ast.Compare(left=left, ops=[p[0] for p in pairs],
                                                          comparators=[p[1] for p in pairs]))),
        st.builds(ast.Call, func=func, args=st.lists(arg, max_size=4),
                  keywords=st.lists(st.builds(ast.keyword, arg=st.sampled_from(["n", None]), value=ch), max_size=1)),
        st.builds(ast.Tuple, elts=st.lists(ch, max_size=3), ctx=st.just(LOAD)),
        st.builds(ast.Set, elts=st.lists(ch, min_size=1, max_size=3)),
        st.builds(ast.Dict, keys=st.lists(ch, min_size=1, max_size=1), values=st.lists(ch, min_size=1, max_size=1)),
        st.builds(ast.Attribute, value=ch, attr=st.just("real"), ctx=st.just(LOAD)),
        st.builds(ast.Subscript, value=ch, slice=ch, ctx=st.just(LOAD)),
        st.builds(ast.IfExp, test=ch, body=ch, orelse=ch),
        st.builds(ast.Lambda, args=st.just(no_args), body=ch),
        st.builds(ast.NamedExpr, target=st.just(ast.Name(id="z", ctx=ast.Store())), value=ch),
        ch.map(lambda c: ast.ListComp(elt=c, generators=[ast.comprehension(
            target=ast.Name(id="i", ctx=ast.Store()), iter=c, ifs=[], is_async=0)])),
        ch.map(lambda c: ast.JoinedStr(values=[ast.FormattedValue(value=c, conversion=-1, format_spec=None)])),
    )


def _allowed_extend(ch: st.SearchStrategy[ast.expr]) -> st.SearchStrategy[ast.expr]:
    return _ast_extend(ch, forbidden=False)


python_asts = st.one_of(
    st.recursive(ast_leaves, _ast_extend, max_leaves=20),
    st.recursive(good_leaves, _allowed_extend, max_leaves=20),
)


@SETTINGS
@given(node=python_asts, env=environments())
def test_random_python_asts_parse_or_fail_cleanly_and_never_raise_when_run(node, env):
    try:
        source = ast.unparse(node)
    except Exception:  # some random trees have no source form
        assume(False)
    try:
        expr = parse(source, allow_random=True)
    except ExpressionError as error:
        assert 0 <= error.offset <= len(source)
        return
    check_evaluation(expr, env)


# ----------------------------------------------------------------------------- the §5 rules over random values

unknown = st.one_of(st.none(), st.sampled_from([DK, REF, NA]))


def _run(source: str, **data):
    return parse(source).evaluate(Env(data.get, today=dt.date(2025, 3, 1)))


@SETTINGS
@given(a=values, b=values)
def test_negated_operators_are_exact_negations(a, b):
    assert _run("a != b", a=a, b=b) is (not _run("a == b", a=a, b=b))
    assert _run("a not in b", a=a, b=b) is (not _run("a in b", a=a, b=b))
    assert _run("not a", a=a) is (not ex.truthy(a))


@SETTINGS
@given(a=unknown, b=values, swap=st.booleans())
def test_null_and_specials_make_orderings_false_and_arithmetic_null(a, b, swap):
    left, right = (b, a) if swap else (a, b)
    for op in ("<", "<=", ">", ">="):
        assert _run(f"a {op} b", a=left, b=right) is False
    for op in ("+", "-", "*", "/", "%"):
        assert _run(f"a {op} b", a=left, b=right) is None
    assert _run("-a", a=a) is None
    assert _run("between(a, b, b)", a=a, b=b) is False
    assert _run("answered(a)", a=a) is False
    assert _run("special(a)", a=a) is (a is not None)
    assert _run("abs(a) == null and round(a) == null and len(a) == null", a=a) is True


@SETTINGS
@given(a=values, lo=values, hi=values)
def test_between_is_two_inclusive_comparisons(a, lo, hi):
    assert _run("between(a, lo, hi)", a=a, lo=lo, hi=hi) is _run("lo <= a and a <= hi", a=a, lo=lo, hi=hi)


@SETTINGS
@given(items=st.lists(values, max_size=6))
def test_aggregates_skip_null_specials_and_non_numbers(items):
    data = {f"v{i}": v for i, v in enumerate(items)}
    spread = [e for v in items for e in (v if isinstance(v, tuple | list) else [v])]
    numbers = [v for v in spread if isinstance(v, int | float)]
    args = ", ".join(data) or "null"
    total = _run(f"sum({args})", **data)
    if not numbers:
        assert total is None
        assert _run(f"max({args})", **data) is None
    else:
        assert total is None or isinstance(total, int | float)
        top = _run(f"max({args})", **data)
        assert top is None or top in numbers or top != top
