"""Property-based: whatever a file holds, checking gives ``FILE:LINE:COL`` problems or a valid result.

Mutations start from the two specification examples: text-level (delete, duplicate, truncate,
insert junk) and tree-level (delete keys, duplicate items, retype nodes, change scalars).
"""

from __future__ import annotations

import copy
import re

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cati.questionnaires.codebook import build_codebook
from cati.questionnaires.compiler import INTERNAL_ERROR, check_text, load_questionnaire

from .helpers import EXAMPLES

SOURCES = [p.read_text(encoding="utf-8") for p in sorted(EXAMPLES.glob("*.yaml"))]
TREES = [yaml.safe_load(text) for text in SOURCES]
PROBLEM = re.compile(r"f\.yaml:\d+:\d+: \S")
FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_sound(text: str) -> None:
    """The property: problems are well-formed, or the file compiles and has a codebook."""
    found = check_text(text, "f.yaml")
    assert not any(INTERNAL_ERROR in p.message for p in found), found
    for problem in found:
        assert problem.line >= 1 and problem.col >= 1, problem
        assert PROBLEM.match(str(problem)), str(problem)
    if not found:
        build_codebook(load_questionnaire(text, "f.yaml"))


JUNK = st.sampled_from(
    [
        "{",
        "}",
        ":",
        "- ",
        "&a ",
        "*a",
        "!",
        "!!python/object ",
        "\t",
        "'",
        '"',
        "\\",
        "#",
        "ä",
        "\u2028",
        "\x00",
        "\ufeff",
        "[",
        "]",
        "?",
        "|",
        ">",
        "%",
        "@",
        "`",
        "{{",
        "$",
        "=",
    ]
)


@FUZZ
@given(source=st.sampled_from(SOURCES), data=st.data())
def test_text_mutations(source: str, data: st.DataObject) -> None:
    text = source
    for _ in range(data.draw(st.integers(1, 4))):
        kind = data.draw(st.sampled_from(["delete", "duplicate", "truncate", "insert", "replace"]))
        lines = text.splitlines(keepends=True)
        if kind == "delete" and lines:
            start = data.draw(st.integers(0, len(lines) - 1))
            del lines[start : start + data.draw(st.integers(1, 5))]
            text = "".join(lines)
        elif kind == "duplicate" and lines:
            index = data.draw(st.integers(0, len(lines) - 1))
            lines.insert(index, lines[index])
            text = "".join(lines)
        elif kind == "truncate":
            text = text[: data.draw(st.integers(0, len(text)))]
        elif kind == "insert":
            at = data.draw(st.integers(0, len(text)))
            text = text[:at] + data.draw(st.one_of(JUNK, st.text(max_size=8))) + text[at:]
        elif kind == "replace" and text:
            at = data.draw(st.integers(0, len(text) - 1))
            text = text[:at] + data.draw(st.characters()) + text[at + 1 :]
    assert_sound(text)


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=10**20, max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(
        [
            "",
            "yes",
            "DK",
            "COMPLETE",
            "S1",
            "{S1}",
            "{=S1 +}",
            "K1 ==",
            "$code",
            "cati/2",
            "list",
            "single",
            "multi",
            "grid",
            "computed",
            "nps",
            "date",
            "2025-02-30",
            "random_pick([1])",
            "x" * 300,
            "abs(" * 60 + "1" + ")" * 60,
        ]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8,
)


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*path, index))


def _get(node, path):
    for step in path:
        node = node[step]
    return node


@FUZZ
@given(tree=st.sampled_from(TREES), data=st.data())
def test_tree_mutations(tree, data: st.DataObject) -> None:
    tree = copy.deepcopy(tree)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(tree) if p]
        if not paths:
            break
        path = data.draw(st.sampled_from(paths))
        parent, last = _get(tree, path[:-1]), path[-1]
        kind = data.draw(st.sampled_from(["delete", "duplicate", "retype"]))
        if kind == "delete":
            del parent[last]
        elif kind == "duplicate" and isinstance(parent, list):
            parent.insert(last, copy.deepcopy(parent[last]))
        else:
            parent[last] = data.draw(VALUES)
    assert_sound(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False))


@FUZZ
@given(text=st.text(max_size=200))
def test_any_text(text: str) -> None:
    assert_sound(text)
