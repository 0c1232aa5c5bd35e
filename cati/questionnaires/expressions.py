"""Safe expression language of ``cati/1`` (questionnaire-format §5).

Expressions come from questionnaire files written by researchers, so they are never handed to
Python's ``eval``: the source is parsed with :func:`ast.parse`, every node is checked against a
whitelist, and the tree is compiled into small closures.  That keeps evaluation fast (the engine
re-evaluates the whole route after every answer) and makes it impossible to reach attributes,
imports or anything else outside the values an :class:`Env` hands out.

Public API (stable; other modules code against it):

* ``parse(source, *, allow_random=False) -> Expr`` (raises :class:`ExpressionError`).
* ``Expr``: ``source``, ``names``, ``functions``, ``uses_loop``, ``is_random``, ``label_args``,
  ``quota_refs``, ``evaluate(env)``; module-level ``evaluate(expr, env)``.
* ``Env``: what an evaluation may see (values, labels, quota state, loop item, today, rng).
* ``DK``, ``REF``, ``NA`` (instances of :class:`Special`), ``SPECIALS``; ``truthy(value)``;
  ``references_unanswered(expr, lookup)``; ``infer_type(expr)``; ``FUNCTIONS``; ``RESERVED_WORDS``.

Where §5 is silent, the rule chosen is stated in a comment next to the code that implements it.
Evaluation never raises on any combination of values: a type mismatch gives null (arithmetic,
functions) or false (comparisons), so a questionnaire cannot crash an interview at run time.
"""

from __future__ import annotations

import ast
import datetime as dt
import keyword
import math
import operator
import random
import re
import threading
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal
from re import _constants as _sre
from re import _parser as _sre_parse
from typing import Any, Literal

__all__ = [
    "DK", "FUNCTIONS", "NA", "REF", "RESERVED_WORDS", "SPECIALS", "Env", "Expr", "ExpressionError",
    "Special", "evaluate", "infer_type", "parse", "references_unanswered", "truthy",
]

MAX_SOURCE = 2000
MAX_DEPTH = 50
MAX_PATTERN = 200
MAX_SUBJECT = 32767
# Worst-case backtracking steps we accept for matches(): about 20 ms of the C regex engine.
_REGEX_BUDGET = 50_000_000
_MIN_SUBJECT = 100


class ExpressionError(ValueError):
    """A problem in an expression's source; ``offset`` is the 0-based character position."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message, offset)
        self.message = message
        self.offset = offset

    def __str__(self) -> str:
        return self.message


class Special:
    """Don't know / refused / not applicable: a state, never a number (§4).

    Only the three module-level singletons exist (``Special("DK") is DK``), so identity is
    equality and pickling or copying keeps them singletons.  They are false in a boolean
    context and unordered, which makes every comparison rule of §5 fall out naturally.
    """

    __slots__ = ("name",)
    _instances: dict[str, Special] = {}  # noqa: RUF012 - the registry of the three singletons

    def __new__(cls, name: str) -> Special:
        try:
            return cls._instances[name]
        except KeyError:
            if len(cls._instances) >= 3:
                raise ValueError(f"unknown special {name!r}; use DK, REF or NA") from None
        self = super().__new__(cls)
        object.__setattr__(self, "name", name)
        cls._instances[name] = self
        return self

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("specials are immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Special, (self.name,))

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return self.name

    __str__ = __repr__


DK = Special("DK")
REF = Special("REF")
NA = Special("NA")
SPECIALS: dict[str, Special] = {"DK": DK, "REF": REF, "NA": NA}

_NUMS = frozenset({int, float, bool})
_SEQS = frozenset({tuple, list})
_ORDERED = frozenset({str, dt.date})
_CONSTANT_NAMES: dict[str, Any] = {"true": True, "false": False, "null": None, **SPECIALS}
_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
_IDENT_RE = re.compile(r"[A-Za-z0-9_]*")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOOP_REFS = {"_code": "$code", "_label": "$label"}
_FALLBACK_RNG = random.Random()
# warnings.catch_warnings() swaps process-wide state; our own parses must not interleave in it.
_WARNINGS_LOCK = threading.Lock()


class Env:
    """Everything one evaluation can see; cheap to build because the engine makes many."""

    __slots__ = ("label", "lang", "lookup", "loop_code", "loop_label", "quota_open", "rng", "today")

    def __init__(
        self,
        lookup: Callable[[str], Any],
        *,
        label: Callable[[str, Any], str | None] | None = None,
        quota_open: Callable[[str], bool] | None = None,
        loop_code: Any = None,
        loop_label: str | None = None,
        today: dt.date | None = None,
        rng: random.Random | None = None,
        lang: str = "de",
    ) -> None:
        self.lookup = lookup
        self.label = label
        self.quota_open = quota_open
        self.loop_code = loop_code
        self.loop_label = loop_label
        self.today = today
        self.rng = rng
        self.lang = lang


Fn = Callable[[Env], Any]


@dataclass(frozen=True, slots=True, eq=False)
class Expr:
    """A parsed expression: parse once, evaluate often.

    ``evaluate`` never raises on any combination of values (only the Env's own callbacks can).
    """

    source: str
    names: frozenset[str]
    functions: frozenset[str]
    uses_loop: bool
    is_random: bool
    label_args: frozenset[str]
    quota_refs: frozenset[str]
    _fn: Fn = field(repr=False)
    _tree: ast.expr = field(repr=False)

    def evaluate(self, env: Env) -> Any:
        return self._fn(env)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expr) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)

    def __reduce__(self) -> tuple[Any, ...]:
        # Closures cannot be pickled; re-parsing the (already valid) source is cheap.
        return (_unpickle, (self.source,))


def _unpickle(source: str) -> Expr:
    return parse(source, allow_random=True)


def evaluate(expr: Expr, env: Env) -> Any:
    return expr._fn(env)


def truthy(value: Any) -> bool:
    """Boolean context: null, specials, 0, '' and empty lists are false."""
    return bool(value)


def references_unanswered(expr: Expr, lookup: Callable[[str], Any]) -> bool:
    """Whether a check must be skipped (§5): some referenced variable is null or a special."""
    for name in expr.names:
        value = lookup(name)
        if value is None or type(value) is Special:
            return True
    return False


# ----------------------------------------------------------------------------- value rules

def _real(v: Any) -> bool:
    return v is not None and type(v) is not Special


def _finite(v: Any) -> Any:
    return None if type(v) is float and not math.isfinite(v) else v


def _eq(a: Any, b: Any) -> bool:
    # Multis and lists compare as sets of codes: K1 == [3, 1] holds when exactly 1 and 3 are
    # chosen, whatever the order (the engine may hand multis over as lists or tuples).
    if type(a) in _SEQS and type(b) in _SEQS:
        try:
            return set(a) == set(b)
        except TypeError:
            return a == b
    return a == b


def _ordering(op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    # Only numbers with numbers, texts with texts and dates with dates are ordered; null,
    # specials, multis and mixed types make every ordering false (never an exception).
    def compare(a: Any, b: Any) -> bool:
        ta, tb = type(a), type(b)
        return ((ta in _NUMS and tb in _NUMS) or (ta is tb and ta in _ORDERED)) and op(a, b)

    return compare


_lt, _le, _gt, _ge = (_ordering(op) for op in (operator.lt, operator.le, operator.gt, operator.ge))


def _in(a: Any, b: Any) -> bool:
    # Lists/multis: exact membership of a single value; strings: substring; anything else
    # (null, specials, numbers on the right) contains nothing.
    tb = type(b)
    if tb in _SEQS:
        return type(a) not in _SEQS and a in b
    return tb is str and type(a) is str and a in b


def _shift(d: dt.date, days: int) -> dt.date | None:
    try:
        return d + dt.timedelta(days=days)
    except (OverflowError, ValueError):
        return None


def _add(a: Any, b: Any) -> Any:
    # '+' also joins two texts and moves a date by whole days; other mixes give null.
    ta, tb = type(a), type(b)
    if ta in _NUMS and tb in _NUMS:
        try:
            return _finite(a + b)
        except ArithmeticError:
            return None
    if ta is str and tb is str:
        return a + b
    if ta is dt.date and tb is int:
        return _shift(a, b)
    if tb is dt.date and ta is int:
        return _shift(b, a)
    return None


def _sub(a: Any, b: Any) -> Any:
    # date - date is the number of days between them (an integer).
    ta, tb = type(a), type(b)
    if ta in _NUMS and tb in _NUMS:
        try:
            return _finite(a - b)
        except ArithmeticError:
            return None
    if ta is dt.date and tb is dt.date:
        return (a - b).days
    if ta is dt.date and tb is int:
        return _shift(a, -b)
    return None


def _numeric_op(op: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    # '*', '/' and '%' take numbers only (no text repetition); '/' always gives a float and '%'
    # has the sign of the divisor, as in Python. Overflow and division by zero give null.
    def apply(a: Any, b: Any) -> Any:
        if type(a) in _NUMS and type(b) in _NUMS:
            try:
                return _finite(op(a, b))
            except ArithmeticError:
                return None
        return None

    return apply


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: _add,
    ast.Sub: _sub,
    ast.Mult: _numeric_op(lambda a, b: a * b),
    ast.Div: _numeric_op(lambda a, b: a / b),
    ast.Mod: _numeric_op(lambda a, b: a % b),
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: _eq, ast.NotEq: lambda a, b: not _eq(a, b), ast.Lt: _lt, ast.LtE: _le, ast.Gt: _gt, ast.GtE: _ge,
    ast.In: _in, ast.NotIn: lambda a, b: not _in(a, b),
}
_BAD_OPS = {
    ast.Pow: ("**", "'**' is not allowed"),
    ast.FloorDiv: ("//", "'//' is not allowed; use round(a / b) or a % b"),
    ast.MatMult: ("@", "'@' is not allowed"),
    ast.BitAnd: ("&", "'&' is not allowed; use 'and'"),
    ast.BitOr: ("|", "'|' is not allowed; use 'or'"),
    ast.BitXor: ("^", "'^' is not allowed"),
    ast.LShift: ("<<", "'<<' is not allowed"),
    ast.RShift: (">>", "'>>' is not allowed"),
    ast.Is: ("is", "'is' is not allowed; use '=='"),
    ast.IsNot: ("is", "'is not' is not allowed; use '!='"),
    ast.Invert: ("~", "'~' is not allowed; use 'not'"),
}


# ----------------------------------------------------------------------------- functions

def _flat(values: tuple[Any, ...]) -> list[Any]:
    """Arguments with lists and multi answers spread out one level."""
    out: list[Any] = []
    for v in values:
        if type(v) in _SEQS:
            out.extend(v)
        else:
            out.append(v)
    return out


def _numbers(values: tuple[Any, ...]) -> list[Any]:
    return [v for v in _flat(values) if type(v) in _NUMS]


def _aggregate(op: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    def apply(env: Env, *values: Any) -> Any:
        nums = _numbers(values)
        if not nums:
            return None
        try:
            return _finite(op(nums))
        except (ArithmeticError, ValueError):
            return None

    return apply


def _selected(env: Env, x: Any, *codes: Any) -> bool:
    # A multi: any of the codes chosen; a single (or a special) must equal one of them.
    codes_ = _flat(codes)
    if x is None:
        return False
    if type(x) in _SEQS:
        return any(_in(c, x) for c in codes_)
    return any(_eq(x, c) for c in codes_)


def _all_of(env: Env, x: Any, codes: Any) -> bool:
    # Like selected(), but every code must be chosen; an empty list holds for any non-null x.
    codes_ = _flat((codes,))
    if x is None:
        return False
    if type(x) in _SEQS:
        return all(_in(c, x) for c in codes_)
    return all(_eq(x, c) for c in codes_)


def _count(env: Env, x: Any) -> int:
    # Codes chosen in a multi; null and specials count as none, any other value as one.
    if type(x) in _SEQS:
        return sum(1 for e in x if _real(e))
    return 1 if _real(x) else 0


def _abs(env: Env, x: Any) -> Any:
    return abs(x) if type(x) in _NUMS else None


_DECIMAL = Context(prec=400, rounding=ROUND_HALF_UP)


def _round(env: Env, x: Any, n: Any = 0) -> Any:
    # Half away from zero on the decimal digits the researcher sees (2.675 -> 2.68, 2.5 -> 3),
    # like SPSS RND, not Python's banker's rounding of the binary float.
    if type(x) not in _NUMS or type(n) not in (int, bool) or not -15 <= n <= 15 or _finite(x) is None:
        return None
    if type(x) is not float and n >= 0:
        return int(x)
    try:
        exact = Decimal(repr(x) if type(x) is float else int(x))
        rounded = _DECIMAL.quantize(exact, Decimal(1).scaleb(-n))
    except (ArithmeticError, ValueError):
        return None
    return int(rounded) if n <= 0 else _finite(float(rounded))


def _between(env: Env, x: Any, lo: Any, hi: Any) -> bool:
    return _le(lo, x) and _le(x, hi)


def _len(env: Env, x: Any) -> int | None:
    return len(x) if type(x) is str or type(x) in _SEQS else None


def _today(env: Env) -> dt.date:
    return env.today if env.today is not None else dt.date.today()


def _as_date(v: Any) -> dt.date | None:
    # ISO texts are accepted too, since sample files often carry dates as text.
    if type(v) is dt.date:
        return v
    if type(v) is str and len(v) <= 32:
        try:
            return dt.date.fromisoformat(v)
        except ValueError:
            return None
    return None


def _age(env: Env, d: Any) -> int | None:
    # Completed years; a 29 February birthday completes on 1 March in other years.
    born = _as_date(d)
    if born is None:
        return None
    now = _today(env)
    return now.year - born.year - ((now.month, now.day) < (born.month, born.day))


def _year(env: Env, d: Any) -> int | None:
    day = _as_date(d)
    return None if day is None else day.year


def _random_pick(env: Env, items: Any) -> Any:
    # Null and special items are never drawn. Without an rng (tests, previews) draws are unseeded.
    if type(items) not in _SEQS:
        return None
    choices = [e for e in items if _real(e)]
    return (env.rng or _FALLBACK_RNG).choice(choices) if choices else None


def _random_int(env: Env, lo: Any, hi: Any) -> int | None:
    if type(lo) is not int or type(hi) is not int or lo > hi:
        return None
    return (env.rng or _FALLBACK_RNG).randint(lo, hi)


# Functions that take their arguments' values (iif, label, matches, quota_open are compiled apart).
_EAGER: dict[str, Callable[..., Any]] = {
    "answered": lambda env, x: _real(x), "special": lambda env, x: type(x) is Special,
    "is_dk": lambda env, x: x is DK, "is_ref": lambda env, x: x is REF, "is_na": lambda env, x: x is NA,
    "selected": _selected, "any_of": _selected, "all_of": _all_of, "count": _count,
    "sum": _aggregate(sum), "min": _aggregate(min), "max": _aggregate(max),
    "mean": _aggregate(lambda nums: sum(nums) / len(nums)), "abs": _abs, "round": _round,
    "between": _between, "len": _len, "today": _today, "age": _age, "year": _year,
    "random_pick": _random_pick, "random_int": _random_int,
}
# name -> (least, most) number of arguments; None = any number
_ARITY: dict[str, tuple[int, int | None]] = {
    "answered": (1, 1), "special": (1, 1), "is_dk": (1, 1), "is_ref": (1, 1), "is_na": (1, 1),
    "selected": (2, None), "any_of": (2, 2), "all_of": (2, 2), "count": (1, 1),
    "sum": (1, None), "min": (1, None), "max": (1, None), "mean": (1, None), "abs": (1, 1),
    "round": (1, 2), "between": (3, 3), "iif": (3, 3), "len": (1, 1), "matches": (2, 2),
    "today": (0, 0), "age": (1, 1), "year": (1, 1), "label": (1, 1), "quota_open": (1, 1),
    "random_pick": (1, 1), "random_int": (2, 2),
}
FUNCTIONS = frozenset(_ARITY)
# The words of §5 (its literals, specials and operators) and the constants Python's parser makes
# of True/False/None: a variable of such a name could never be read. Other Python keywords
# (class, return, ...) are no words of the language: the spec allows them as ids, and only an
# expression that names one fails to parse (and says so).
RESERVED_WORDS = frozenset({*_CONSTANT_NAMES, "True", "False", "None", "and", "or", "not", "in"})
_BOOLEAN_FUNCS = frozenset({"answered", "special", "is_dk", "is_ref", "is_na", "selected", "any_of", "all_of",
                            "between", "matches", "quota_open"})
_NUMERIC_FUNCS = frozenset({"count", "sum", "min", "max", "mean", "abs", "round", "len", "age", "year", "random_int"})


def _arity_message(name: str, least: int, most: int | None) -> str:
    def n(k: int) -> str:
        return f"{k} argument" + ("" if k == 1 else "s")

    if most is None:
        return f"{name}() takes at least {n(least)}"
    if least == most:
        return f"{name}() takes no arguments" if least == 0 else f"{name}() takes exactly {n(least)}"
    return f"{name}() takes {least} or {n(most)}"


# ----------------------------------------------------------------------------- regex guard

_REPEATS = (_sre.MAX_REPEAT, _sre.MIN_REPEAT, _sre.POSSESSIVE_REPEAT)


def _repeat_maxima(items: Any, inside: bool) -> list[int]:
    """Upper bounds of the pattern's repetitions; raises ValueError on exponential shapes.

    Nested repetition (``(a+)+``) and alternation under repetition (``(a|ab)*``) can take
    exponential time, so they are refused outright.  Backreferences make matching NP-hard.
    """
    maxima: list[int] = []
    for op, av in items:
        if op in _REPEATS:
            if inside:
                raise ValueError("a repeated part must not contain another repetition")
            if av[1] > 1:
                maxima.append(av[1])
            maxima += _repeat_maxima(av[2], inside or av[1] > 1)
        elif op is _sre.BRANCH:
            if inside:
                raise ValueError("a repeated part must not contain alternatives ('|')")
            for branch in av[1]:
                maxima += _repeat_maxima(branch, inside)
        elif op is _sre.SUBPATTERN:
            maxima += _repeat_maxima(av[3], inside)
        elif op in (_sre.ASSERT, _sre.ASSERT_NOT):
            maxima += _repeat_maxima(av[1], inside)
        elif op is _sre.ATOMIC_GROUP:
            maxima += _repeat_maxima(av, inside)
        elif op in (_sre.GROUPREF, _sre.GROUPREF_EXISTS):
            raise ValueError("backreferences are not allowed")
    return maxima


def _compile_pattern(pattern: str) -> tuple[re.Pattern[str], int]:
    """The compiled pattern and how many subject characters it may look at.

    Worst-case backtracking is about ``starts * prod(min(max_i, n))`` steps for a subject of
    ``n`` characters (``starts`` = 1 when anchored with ``^``/``\\A``, else ``n``); the subject
    cap is the largest ``n`` that keeps this under a fixed budget.
    """
    if len(pattern) > MAX_PATTERN:
        raise ValueError(f"the pattern is longer than {MAX_PATTERN} characters")
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = _sre_parse.parse(pattern)
            rx = re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    maxima = _repeat_maxima(tree, False)
    first = tree[0] if len(tree) else None
    anchored = first is not None and first[0] is _sre.AT and (
        first[1] is _sre.AT_BEGINNING_STRING
        or (first[1] is _sre.AT_BEGINNING and not tree.state.flags & re.MULTILINE))

    def work(n: int) -> int:
        total = 1 if anchored else n
        for m in maxima:
            total *= min(m, n)
        return total

    lo, hi = 1, MAX_SUBJECT
    while lo < hi:  # largest n with work(n) within budget
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if work(mid) <= _REGEX_BUDGET else (lo, mid - 1)
    if lo < _MIN_SUBJECT:
        raise ValueError("the pattern has too many repetitions ('*', '+', '{m,n}') to run in bounded "
                         "time; anchor it with '^' or simplify it")
    return rx, lo


# ----------------------------------------------------------------------------- parsing

def _prescan(source: str) -> tuple[str, set[int]]:
    """Source made parseable by Python, same length so offsets stay valid.

    ``$code``/``$label`` become ``_code``/``_label`` (names an author cannot write, since names
    start with a letter), line breaks outside strings become spaces, and the bracket depth is
    checked before Python's parser can recurse on a deep nest.
    """
    chars = list(source)
    loop_refs: set[int] = set()
    depth, i, n = 0, 0, len(source)
    while i < n:
        ch = source[i]
        if ch in "'\"":
            if source.startswith(ch * 3, i):
                raise ExpressionError("triple-quoted strings are not allowed", i)
            j = i + 1
            while j < n and source[j] != ch:
                if source[j] in "\r\n" or (source[j] == "\\" and j + 1 < n and source[j + 1] in "\r\n"):
                    raise ExpressionError("a string must end on the line it starts", i)
                j += 2 if source[j] == "\\" else 1
            if j >= n:
                raise ExpressionError("a string is not closed (missing quote)", i)
            i = j + 1
            continue
        nxt = source[i + 1] if i + 1 < n else ""
        if ch == "$":
            word = _IDENT_RE.match(source, i + 1).group()  # type: ignore[union-attr]
            if i and (source[i - 1].isalnum() or source[i - 1] == "_"):
                raise ExpressionError("'$' must start a loop reference such as $code", i)
            if word not in ("code", "label"):
                what = f"unknown loop reference '${word}'" if word else "'$' must be followed by code or label"
                raise ExpressionError(f"{what}; only $code and $label exist", i)
            chars[i] = "_"
            loop_refs.add(i)
            i += 1 + len(word)
            continue
        if ch in "([{":
            depth += 1
            if depth > MAX_DEPTH:
                raise ExpressionError(f"the expression is nested too deeply (at most {MAX_DEPTH} levels)", i)
        elif ch in ")]}":
            depth -= 1
        elif ch in "\r\n\xa0" or (ch == "\\" and nxt in "\r\n" and nxt):
            chars[i] = " "
        elif ch == "#":
            raise ExpressionError("comments ('#') are not allowed", i)
        elif ch in "&|" and nxt == ch:
            raise ExpressionError(f"'{ch * 2}' is not allowed; use '{'and' if ch == '&' else 'or'}'", i)
        elif ch == "!" and nxt != "=":
            raise ExpressionError("'!' is not allowed; use 'not' (and '!=' for 'not equal')", i)
        elif ch < " " and ch != "\t":
            raise ExpressionError(f"control character U+{ord(ch):04X} is not allowed", i)
        i += 1
    return "".join(chars), loop_refs


_NODE_MESSAGES: dict[type, str] = {
    ast.Attribute: "attribute access ('.') is not allowed",
    ast.Subscript: "subscripts ('x[...]') are not allowed",
    ast.Lambda: "lambda is not allowed",
    **dict.fromkeys((ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp), "comprehensions are not allowed"),
    ast.IfExp: "'a if c else b' is not allowed; use iif(c, a, b)",
    ast.NamedExpr: "assignment (':=') is not allowed",
    ast.Starred: "'*' unpacking is not allowed",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Tuple: "tuples are not allowed; use a list [a, b]",
    ast.Set: "sets ('{...}') are not allowed; use a list [a, b]",
    ast.Dict: "dictionaries ('{...}') are not allowed",
    ast.Await: "'await' is not allowed",
    **dict.fromkeys((ast.Yield, ast.YieldFrom), "'yield' is not allowed"),
    ast.Slice: "slices are not allowed",
}


class _Compiler:
    """One parse: turns the checked tree into closures and collects what the tree refers to."""

    def __init__(self, text: str, lead: int, loop_refs: set[int], allow_random: bool) -> None:
        self.text = text
        self.lead = lead
        self.loop_refs = loop_refs
        self.allow_random = allow_random
        self.ascii = text.isascii()
        self.names: set[str] = set()
        self.functions: set[str] = set()
        self.label_args: set[str] = set()
        self.quota_refs: set[str] = set()
        self.uses_loop = False

    # -- positions ----------------------------------------------------------------------------
    def at(self, col: int | None) -> int:
        """Character offset in the source of a byte column of the (single-line) parsed text."""
        if col is None:
            return self.lead
        body = self.text[self.lead:]
        if not self.ascii:
            col = len(body.encode("utf-8", "surrogatepass")[:col].decode("utf-8", "ignore"))
        return self.lead + col

    def fail(self, message: str, node: Any) -> ExpressionError:
        return ExpressionError(message, self.at(getattr(node, "col_offset", None)))

    def between(self, symbol: str, left: ast.AST, right: ast.AST) -> int:
        start, end = self.at(left.end_col_offset), self.at(right.col_offset)
        found = self.text.find(symbol, start, end)
        return found if found >= 0 else start

    # -- nodes --------------------------------------------------------------------------------
    def expr(self, node: ast.expr, depth: int) -> Fn:
        if depth > MAX_DEPTH:
            raise self.fail(f"the expression is nested too deeply (at most {MAX_DEPTH} levels)", node)
        method = getattr(self, "c_" + type(node).__name__, None)
        if method is None:
            message = _NODE_MESSAGES.get(type(node), f"this construct ({type(node).__name__}) is not allowed")
            if isinstance(node, ast.Attribute):
                raise ExpressionError(message, self.at(node.value.end_col_offset))
            if isinstance(node, ast.Subscript):
                raise ExpressionError(message, self.between("[", node.value, node.slice))
            raise self.fail(message, node)
        return method(node, depth)

    def c_Constant(self, node: ast.Constant, depth: int) -> Fn:
        value = node.value
        if isinstance(value, bool) or value is None or type(value) in (int, str):
            pass
        elif type(value) is float:
            if not math.isfinite(value):
                raise self.fail("this number is too large", node)
        elif isinstance(value, complex):
            raise self.fail("complex numbers are not allowed", node)
        elif isinstance(value, bytes):
            raise self.fail("bytes literals are not allowed", node)
        else:
            raise self.fail("'...' is not allowed", node)
        return lambda env: value

    def c_Name(self, node: ast.Name, depth: int) -> Fn:
        name = node.id
        if name in _CONSTANT_NAMES:
            value = _CONSTANT_NAMES[name]
            return lambda env: value
        if name in _LOOP_REFS and self.at(node.col_offset) in self.loop_refs:
            self.uses_loop = True
            if name == "_code":
                return lambda env: env.loop_code
            return lambda env: env.loop_label
        if not _NAME_RE.match(name):
            raise self.fail(f"invalid name {name!r}: names use ASCII letters, digits and '_' and "
                            "start with a letter", node)
        self.names.add(name)
        return lambda env: env.lookup(name)

    def c_List(self, node: ast.List, depth: int) -> Fn:
        for item in node.elts:
            if isinstance(item, ast.List):
                raise self.fail("a list cannot contain another list", item)
        fns = [self.expr(item, depth + 1) for item in node.elts]
        if all(isinstance(item, ast.Constant) or (isinstance(item, ast.Name) and item.id in _CONSTANT_NAMES)
               for item in node.elts):
            values = [f(None) for f in fns]  # type: ignore[arg-type]
            return lambda env: list(values)
        return lambda env: [f(env) for f in fns]

    def c_UnaryOp(self, node: ast.UnaryOp, depth: int) -> Fn:
        if type(node.op) in _BAD_OPS:
            raise self.fail(_BAD_OPS[type(node.op)][1], node)
        operand = self.expr(node.operand, depth + 1)
        if isinstance(node.op, ast.Not):
            return lambda env: not operand(env)
        negate = isinstance(node.op, ast.USub)

        def sign(env: Env) -> Any:
            v = operand(env)
            if type(v) not in _NUMS:
                return None
            return -v if negate else +v

        return sign

    def c_BinOp(self, node: ast.BinOp, depth: int) -> Fn:
        # A left-leaning chain (a + b - c * d ...) is flattened: it is one level deep for the
        # depth limit and runs in a loop, so long sums cannot exhaust Python's stack.
        chain: list[ast.BinOp] = []
        current: ast.expr = node
        while isinstance(current, ast.BinOp):
            chain.append(current)
            current = current.left
        first = self.expr(current, depth + 1)
        steps: list[tuple[Callable[[Any, Any], Any], Fn]] = []
        for link in reversed(chain):
            op = _BINOPS.get(type(link.op))
            if op is None:
                symbol, message = _BAD_OPS[type(link.op)]
                raise ExpressionError(message, self.between(symbol, link.left, link.right))
            steps.append((op, self.expr(link.right, depth + 1)))
        if len(steps) == 1:
            (op, second), = steps
            return lambda env: op(first(env), second(env))

        def run(env: Env) -> Any:
            value = first(env)
            for op, operand in steps:
                value = op(value, operand(env))
            return value

        return run

    def c_BoolOp(self, node: ast.BoolOp, depth: int) -> Fn:
        fns = [self.expr(v, depth + 1) for v in node.values]
        # and/or give booleans, not the deciding operand: a researcher's "a or b" is a condition.
        if isinstance(node.op, ast.And):
            if len(fns) == 2:
                a, b = fns
                return lambda env: bool(a(env)) and bool(b(env))
            return lambda env: all(f(env) for f in fns)
        if len(fns) == 2:
            a, b = fns
            return lambda env: bool(a(env)) or bool(b(env))
        return lambda env: any(f(env) for f in fns)

    def c_Compare(self, node: ast.Compare, depth: int) -> Fn:
        operands = [node.left, *node.comparators]
        ops = []
        for i, op in enumerate(node.ops):
            if type(op) not in _CMPOPS:
                symbol, message = _BAD_OPS[type(op)]
                raise ExpressionError(message, self.between(symbol, operands[i], operands[i + 1]))
            ops.append(_CMPOPS[type(op)])
        fns = [self.expr(v, depth + 1) for v in operands]
        if len(ops) == 1:
            (op,), (left, right) = ops, fns
            return lambda env: op(left(env), right(env))
        first, rest = fns[0], list(zip(ops, fns[1:], strict=True))

        def chain(env: Env) -> bool:
            a = first(env)
            for op, operand in rest:
                b = operand(env)
                if not op(a, b):
                    return False
                a = b
            return True

        return chain

    def c_Call(self, node: ast.Call, depth: int) -> Fn:
        if not isinstance(node.func, ast.Name):
            raise self.fail("only the functions of the expression language can be called, e.g. answered(x)",
                            node)
        name = node.func.id
        if name not in _ARITY:
            shown = _LOOP_REFS.get(name, name) if self.at(node.col_offset) in self.loop_refs else name
            raise self.fail(f"unknown function {shown!r}", node)
        if node.keywords:
            kw = node.keywords[0]
            message = ("'**' unpacking is not allowed" if kw.arg is None
                       else f"keyword arguments are not allowed ({kw.arg}= in {name}())")
            raise self.fail(message, kw)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail("'*' unpacking is not allowed", arg)
        if name.startswith("random_") and not self.allow_random:
            raise self.fail(f"{name}() is only allowed in computed questions", node)
        least, most = _ARITY[name]
        if len(node.args) < least or (most is not None and len(node.args) > most):
            raise self.fail(_arity_message(name, least, most), node)
        self.functions.add(name)
        special = getattr(self, "f_" + name, None)
        if special is not None:
            return special(node, depth)
        impl = _EAGER[name]
        fns = [self.expr(a, depth + 1) for a in node.args]
        if not fns:
            return lambda env: impl(env)
        if len(fns) == 1:
            (a,) = fns
            return lambda env: impl(env, a(env))
        if len(fns) == 2:
            a, b = fns
            return lambda env: impl(env, a(env), b(env))
        return lambda env: impl(env, *[f(env) for f in fns])

    def f_iif(self, node: ast.Call, depth: int) -> Fn:
        cond, yes, no = (self.expr(a, depth + 1) for a in node.args)
        return lambda env: yes(env) if cond(env) else no(env)

    def f_label(self, node: ast.Call, depth: int) -> Fn:
        arg = node.args[0]
        if not isinstance(arg, ast.Name) or arg.id in _CONSTANT_NAMES or arg.id in _LOOP_REFS:
            raise self.fail("label() takes the name of a variable, e.g. label(S2)", arg)
        self.expr(arg, depth + 1)  # validates and records the name
        name = arg.id
        self.label_args.add(name)

        def label(env: Env) -> str | None:
            value = env.lookup(name)
            if value is None or env.label is None:
                return None
            return env.label(name, value)

        return label

    def f_quota_open(self, node: ast.Call, depth: int) -> Fn:
        # quota_open('q') or quota_open(q): the id is a quota (or 'quota.cell'), never a variable.
        arg = node.args[0]
        if isinstance(arg, ast.Constant) and type(arg.value) is str:
            quota = arg.value
        elif isinstance(arg, ast.Name) and _NAME_RE.match(arg.id) and arg.id not in _CONSTANT_NAMES:
            quota = arg.id
        else:
            raise self.fail("quota_open() takes a quota id, e.g. quota_open('age_gender')", arg)
        self.quota_refs.add(quota)

        def quota_open(env: Env) -> bool:
            gate = env.quota_open
            return True if gate is None else bool(gate(quota))

        return quota_open

    def f_matches(self, node: ast.Call, depth: int) -> Fn:
        subject_node, pattern_node = node.args
        if not (isinstance(pattern_node, ast.Constant) and type(pattern_node.value) is str):
            raise self.fail("matches() needs the pattern as a string literal, e.g. matches(x, '^[0-9]{5}$')",
                            pattern_node)
        try:
            rx, cap = _compile_pattern(pattern_node.value)
        except ValueError as exc:
            raise self.fail(f"matches(): {exc}", pattern_node) from None
        subject = self.expr(subject_node, depth + 1)
        search = rx.search

        def matches(env: Env) -> bool:
            s = subject(env)
            if type(s) is int:
                try:
                    s = str(s)
                except ValueError:
                    return False
            return type(s) is str and search(s[:cap]) is not None

        return matches


def parse(source: str, *, allow_random: bool = False) -> Expr:
    """Parse and check ``source``; raises :class:`ExpressionError` with a character offset."""
    if not isinstance(source, str):
        raise ExpressionError("an expression must be a text", 0)
    if len(source) > MAX_SOURCE:
        raise ExpressionError(f"the expression is longer than {MAX_SOURCE} characters", MAX_SOURCE)
    text, loop_refs = _prescan(source)
    body = text.lstrip()
    lead = len(text) - len(body)
    if not body.strip():
        raise ExpressionError("the expression is empty", 0)
    try:
        with _WARNINGS_LOCK, warnings.catch_warnings():  # '\\d' in a pattern means backslash-d
            warnings.simplefilter("ignore")
            tree = ast.parse(body, mode="eval")
    except SyntaxError as exc:
        message = exc.msg or "invalid syntax"
        offset = min(max(lead + (exc.offset or 1) - 1, 0), len(source))
        if source[offset:offset + 1] == "=" and source[offset + 1:offset + 2] != "=":
            message = "'=' is not a comparison; use '=='"
        elif message.startswith("invalid syntax"):
            message = "syntax error" + message[len("invalid syntax"):]
        else:
            message = f"syntax error: {message}"
        words = [w for w in _WORD_RE.findall(body) if keyword.iskeyword(w) and w not in RESERVED_WORDS]
        if words:
            message += f" ('{words[0]}' cannot be a name in an expression: rename that question or field)"
        raise ExpressionError(message, offset) from None
    except Exception:  # the parser refuses some pathological inputs with other errors
        raise ExpressionError("the expression cannot be read", 0) from None
    compiler = _Compiler(text, lead, loop_refs, allow_random)
    fn = compiler.expr(tree.body, 1)
    functions = frozenset(compiler.functions)
    return Expr(
        source=source,
        names=frozenset(compiler.names),
        functions=functions,
        uses_loop=compiler.uses_loop,
        is_random=any(f.startswith("random_") for f in functions),
        label_args=frozenset(compiler.label_args),
        quota_refs=frozenset(compiler.quota_refs),
        _fn=fn,
        _tree=tree.body,
    )


# ----------------------------------------------------------------------------- static types

TypeName = Literal["numeric", "string", "boolean", "date", "list", "unknown"]


def infer_type(expr: Expr, *, name_types: Mapping[str, str] | None = None, dates: bool = False) -> TypeName:
    """A shallow guess of the result type, for a computed variable's export type.

    ``name_types`` may give the types of variables ("numeric", "string", "date", ...); without
    it a bare name is "unknown". A list literal, or a variable typed "list" (a multi), is
    "list". Without ``dates`` a date-valued expression counts as
    "numeric" (``today() + 14``) or "unknown" (``today()``); with ``dates`` it is "date":
    ``today()``, a date variable, ``iif`` whose branches are dates, and a date plus or minus a
    number of days (date - date stays "numeric", the number of days).
    """
    return _type_of(expr._tree, name_types or {}, dates)


def _is_null(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and node.value is None) or (
        isinstance(node, ast.Name) and node.id in ("null", "None"))


def _type_of(node: ast.expr, names: Mapping[str, str], dates: bool = False) -> TypeName:
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool):
            return "boolean"
        return "numeric" if isinstance(v, int | float) else "string" if isinstance(v, str) else "unknown"
    if isinstance(node, ast.List):
        return "list"
    if isinstance(node, ast.Name):
        if node.id in ("true", "false"):
            return "boolean"
        if node.id in _LOOP_REFS:
            return "numeric" if node.id == "_code" else "string"
        kind = names.get(node.id)
        known = ("numeric", "string", "boolean", "date", "list") if dates else ("numeric", "string", "boolean", "list")
        return kind if kind in known else "unknown"  # type: ignore[return-value]
    if isinstance(node, ast.BoolOp | ast.Compare):
        return "boolean"
    if isinstance(node, ast.UnaryOp):
        return "boolean" if isinstance(node.op, ast.Not) else "numeric"
    if isinstance(node, ast.BinOp):
        top = node
        strings = False
        while isinstance(node, ast.BinOp):  # iterative: chains may be long
            strings = strings or (isinstance(node.op, ast.Add) and _type_of(node.right, names, dates) == "string")
            node = node.left
        if strings or _type_of(node, names, dates) == "string":
            return "string"
        return _date_arithmetic(top, names) if dates else "numeric"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        func = node.func.id
        if func in _BOOLEAN_FUNCS:
            return "boolean"
        if func in _NUMERIC_FUNCS:
            return "numeric"
        if func == "label":
            return "string"
        if func == "today" and dates:
            return "date"
        if func == "iif":
            return _common([_type_of(a, names, dates) for a in node.args[1:] if not _is_null(a)])
        if func == "random_pick" and isinstance(node.args[0], ast.List):
            return _common([_type_of(a, names, dates) for a in node.args[0].elts if not _is_null(a)])
    return "unknown"


def _date_arithmetic(node: ast.BinOp, names: Mapping[str, str]) -> TypeName:
    """"date" for a chain like ``D1 + 14 - x`` that moves a date by days, else "numeric".

    Mirrors :func:`_add` and :func:`_sub`: date + days and days + date are dates, date - days is
    a date, date - date is a number; anything else with a date gives null at run time, and stays
    "numeric" here as it always was.
    """
    spine = []
    while isinstance(node, ast.BinOp):  # iterative: chains may be long
        spine.append(node)
        node = node.left
    kind = _type_of(node, names, True)
    for binop in reversed(spine):
        right = _type_of(binop.right, names, True)
        left_date, right_date = kind == "date", right == "date"
        moves = left_date != right_date if isinstance(binop.op, ast.Add) else left_date and not right_date
        kind = "date" if moves and isinstance(binop.op, ast.Add | ast.Sub) else "numeric"
    return kind


def _common(kinds: list[TypeName]) -> TypeName:
    """The one type every (non-null) branch has; "unknown" as soon as one branch is unknown."""
    distinct = set(kinds)
    return distinct.pop() if len(distinct) == 1 else "unknown"
