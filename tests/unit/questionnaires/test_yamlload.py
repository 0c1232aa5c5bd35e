"""The positioned YAML loader: positions, YAML 1.1 gotchas, and the limits that keep it safe."""

from __future__ import annotations

import time

import pytest

from cati.questionnaires.errors import QuestionnaireError
from cati.questionnaires.model import Pos
from cati.questionnaires.yamlload import MAX_BYTES, MAX_DEPTH, Scalar, YMap, YSeq, load_data, load_yaml


def fail(text: str) -> str:
    with pytest.raises(QuestionnaireError) as info:
        load_yaml(text, "f.yaml")
    assert len(info.value.problems) == 1
    return str(info.value.problems[0])


class TestPositions:
    def test_every_node_and_key_has_its_position(self) -> None:
        root = load_yaml("a: 1\nb:\n  - x\n  - {c: 'q'}\n", "f")
        assert isinstance(root, YMap)
        assert root.key_pos == {"a": Pos(1, 1), "b": Pos(2, 1)}
        seq = root.items["b"]
        assert isinstance(seq, YSeq) and seq.pos == Pos(3, 3)
        inner = seq.items[1]
        assert isinstance(inner, YMap) and inner.pos == Pos(4, 5) and inner.key_pos["c"] == Pos(4, 6)
        assert inner.items["c"].pos == Pos(4, 9)

    def test_offsets_inside_a_quoted_scalar_map_to_columns(self) -> None:
        root = load_yaml('e: "ab + cd"\n', "f")
        scalar = root.items["e"]
        assert isinstance(scalar, Scalar)
        assert scalar.at(5) == Pos(1, 10)

    def test_offsets_of_multiline_scalars_fall_back_to_the_start(self) -> None:
        scalar = load_yaml("e: >\n  ab\n  cd\n", "f").items["e"]
        assert scalar.at(3) == scalar.pos


class TestScalars:
    def test_yaml_11_booleans_keep_their_source_text(self) -> None:
        scalar = load_yaml("en: yes\n", "f").items["en"]
        assert scalar.value is True and scalar.text == "yes"

    @pytest.mark.parametrize("text", ["010", "0x1F", "1:30", "2025-01-01"])
    def test_unusual_number_spellings_stay_text(self, text: str) -> None:
        assert load_yaml(f"k: {text}\n", "f").items["k"].value == text

    def test_decimal_numbers(self) -> None:
        items = load_yaml("a: 12_000\nb: -3.5\nc: ~\nd: '7'\n", "f").items
        assert [items[k].value for k in "abcd"] == [12000, -3.5, None, "7"]

    def test_huge_integer_text_stays_text(self) -> None:
        assert isinstance(load_yaml("k: " + "9" * 5000 + "\n", "f").items["k"].value, str)


class TestErrors:
    def test_duplicate_keys(self) -> None:
        assert fail("a: 1\nb: 2\na: 3\n") == "f.yaml:3:1: duplicate key 'a' (first given at line 1)"

    def test_syntax_error_has_a_position(self) -> None:
        assert fail("a: [1, 2\n").startswith("f.yaml:2:1: YAML syntax:")

    def test_python_tags_are_refused(self) -> None:
        assert "unsupported YAML tag" in fail("a: !!python/object/apply:os.system ['ls']\n")

    def test_local_tags_are_refused(self) -> None:
        assert "unsupported YAML tag '!foo'" in fail("a: !foo x\n")

    def test_recursive_alias(self) -> None:
        assert "recursive alias" in fail("a: &x [1, *x]\n")

    def test_unknown_alias(self) -> None:
        assert fail("a: *nope\n").startswith("f.yaml:1:4: YAML syntax: found undefined alias") or "alias" in fail(
            "a: *nope\n"
        )

    def test_control_characters(self) -> None:
        assert fail("a: b\x07\n").startswith("f.yaml:1:5: YAML:")

    def test_empty_file(self) -> None:
        assert fail("# nothing\n") == "f.yaml:1:1: the file is empty: expected a questionnaire (a mapping)"

    def test_two_documents(self) -> None:
        assert "only one YAML document" in fail("a: 1\n---\nb: 2\n")

    def test_too_deep(self) -> None:
        assert f"nesting deeper than {MAX_DEPTH} levels" in fail("[" * 200 + "]" * 200)

    def test_very_deep_nesting_does_not_exhaust_the_stack(self) -> None:
        assert "nesting deeper" in fail("[" * 100_000)

    def test_too_large(self) -> None:
        assert fail("a: '" + "x" * MAX_BYTES + "'\n") == f"f.yaml:1:1: file is larger than {MAX_BYTES:,} bytes"

    def test_billion_laughs_is_rejected_fast(self) -> None:
        lines = ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
        for level in range(1, 10):
            prev, name = chr(ord("a") + level - 1), chr(ord("a") + level)
            lines.append(f"{name}: &{name} [" + ", ".join([f"*{prev}"] * 9) + "]")
        start = time.perf_counter()
        message = fail("\n".join(lines) + "\n")
        assert time.perf_counter() - start < 0.5
        assert "billion-laughs guard" in message

    def test_merge_keys_work_and_explicit_keys_win(self) -> None:
        root = load_yaml("base: &b {x: 1, y: 2}\nuse: {<<: *b, y: 3}\n", "f")
        use = root.items["use"]
        assert {k: v.value for k, v in use.items.items()} == {"x": 1, "y": 3}


class TestDataFiles:
    """``load_data``: answers and sample files of ``cati simulate``, read by the same rules."""

    def test_plain_values_with_questionnaire_number_and_boolean_rules(self) -> None:
        text = "plz: 01067\nT1: no\nflag: on\nn: 12\nx: 1.5\nd: 2025-03-01\ne: ~\nM: [1, DK]\nG: {1: 2, 3: yes}\n"
        assert load_data(text, "a.yaml") == {
            "plz": "01067", "T1": "no", "flag": "on", "n": 12, "x": 1.5, "d": "2025-03-01", "e": None,
            "M": [1, "DK"], "G": {"1": 2, "3": "yes"},
        }
        assert load_data("a: yes\nb: false\n", "a.yaml", booleans=True) == {"a": True, "b": False}

    def test_aliases_are_copied_and_empty_files_give_none(self) -> None:
        data = load_data("a: &x [1, {b: 2}]\nc: *x\n", "a.yaml")
        assert data == {"a": [1, {"b": 2}], "c": [1, {"b": 2}]}
        assert data["a"] is not data["c"]
        assert load_data("# nothing\n", "a.yaml") is None
        assert load_data("7\n", "a.yaml") == 7

    def test_problems_have_positions(self) -> None:
        with pytest.raises(QuestionnaireError) as info:
            load_data("a: 1\nb:\n  - 2\n  - [3\n", "a.yaml")
        assert str(info.value.problems[0]).startswith("a.yaml:5:1: YAML syntax")
        with pytest.raises(QuestionnaireError) as info:
            load_data("# list\n- 1\n", "a.yaml", mapping=True)
        assert str(info.value.problems[0]) == "a.yaml:2:1: expected a mapping of names to values, found a list"
        with pytest.raises(QuestionnaireError) as info:
            load_data("a: !!python/name:os.system x\n", "a.yaml")
        assert "unsupported YAML tag" in str(info.value)


@pytest.mark.parametrize("escape", ["\\0", "\\x07", "\\e", "\\x85"])
def test_control_characters_written_as_escapes_are_refused_where_they_stand(escape):
    """YAML refuses them written out, but an escape in double quotes makes them; a NUL would end an
    SPSS label (C strings)."""
    with pytest.raises(QuestionnaireError) as info:
        load_yaml(f'a: 1\nlabel: "A{escape}B"\n', "q.yaml")
    assert str(info.value.problems[0]).startswith("q.yaml:2:8: control character U+")


def test_tabs_and_line_breaks_in_texts_stay():
    node = load_yaml('text: "Zeile 1\\nZeile 2\\tmit Tab"\n', "q.yaml")
    assert node.items["text"].value == "Zeile 1\nZeile 2\tmit Tab"
