"""Compiled structure: goto turned into show_if, quotas, loops, specials, texts."""

from __future__ import annotations

import io

import pytest

from cati.questionnaires import model
from cati.questionnaires.compiler import check_file, load_questionnaire
from cati.questionnaires.errors import QuestionnaireError
from cati.questionnaires.yamlload import MAX_BYTES

from .helpers import compile_text, doc, problems


def _ids(nodes):
    return {node.id: node for node in nodes}


class TestGoto:
    def test_skipped_nodes_get_the_negated_condition(self) -> None:
        q = compile_text(
            doc(
                "- {id: A, type: single, text: A, options: [{code: 1, text: y}, {code: 2, text: n}], "
                "goto: [{if: 'A == 2', to: D}]}\n"
                "- {id: B, type: text, text: B, show_if: 'answered(A)'}\n"
                "- block: blk\n  body:\n  - {id: C, type: text, text: C}\n"
                "- {id: D, type: text, text: D}\n"
            )
        )
        nodes = _ids(q.flow)
        assert nodes["A"].show_if is None and nodes["D"].show_if is None
        assert nodes["B"].show_if.source == "(answered(A)) and not (A == 2)"
        assert nodes["blk"].show_if.source == "not (A == 2)"
        assert nodes["blk"].body[0].show_if is None  # the whole block is skipped, not each child

    def test_jump_into_a_block_skips_its_earlier_children_only(self) -> None:
        q = compile_text(
            doc(
                "- {id: A, type: text, text: A, goto: [{if: 'answered(A)', to: C}]}\n"
                "- block: blk\n  body:\n  - {id: B, type: text, text: B}\n  - {id: C, type: text, text: C}\n"
            )
        )
        blk = q.flow[1]
        assert blk.show_if is None
        assert blk.body[0].show_if.source == "not (answered(A))" and blk.body[1].show_if is None

    def test_goto_out_of_a_loop_is_refused(self) -> None:
        text = doc(
            "- {id: M, type: multi, text: A, options: [{code: 1, text: a}]}\n"
            "- loop: L\n  over: M\n  body:\n"
            "  - {id: X, type: text, text: B, goto: [{if: 'answered(X)', to: Z}]}\n"
            "- {id: Z, type: text, text: C}\n"
        )
        assert problems(text) == ["14:65: X goto: cannot jump into or out of a loop"]


class TestQuotas:
    def test_sample_only_quota(self) -> None:
        q = compile_text(
            doc(
                "- {quota: region}\n",
                top="sample:\n  - {name: bl, type: single, options: [{code: 1, text: N}, {code: 2, text: S}]}\n"
                "quotas:\n  - {id: region, on_full: SO, mode: soft, overshoot: 0.05, cells: "
                "[{id: n, if: 'bl == 1', target: 10}, {id: s, if: 'bl == 2', target: null}]}\n",
            )
        )
        (quota,) = q.quotas
        assert quota.sample_only and quota.mode == "soft" and quota.overshoot == 0.05
        assert [c.target for c in quota.cells] == [10, None]
        assert q.flow[0] == model.QuotaCheckpoint(id="quota:region", pos=q.flow[0].pos, show_if=None, quota="region")

    def test_counter_quota_needs_no_on_full(self) -> None:
        q = compile_text(
            doc(
                "- {id: A, type: text, text: A}\n- {quota: c}\n",
                top="quotas:\n  - {id: c, mode: counter, cells: [{id: x, if: 'answered(A)', target: null}]}\n",
            )
        )
        assert q.quotas[0].on_full == "" and not q.quotas[0].sample_only

    def test_assigned_twice(self) -> None:
        text = doc(
            "- {quota: c}\n- {quota: c}\n",
            top="quotas:\n  - {id: c, on_full: SO, cells: [{id: x, if: 'true', target: 1}]}\n",
        )
        assert problems(text) == ["13:11: quota 'c' is already assigned at line 12"]


class TestTexts:
    def test_plain_texts_in_a_one_language_questionnaire(self) -> None:
        q = compile_text(doc("- {info: i, text: 'Hallo {$interviewer}, {{x}}'}\n"))
        assert q.flow[0].text.raw == {"en": "Hallo {$interviewer}, {{x}}"}
        assert q.flow[0].text.parts["en"] == ("Hallo ", model.Fill("interviewer"), ", {x}")

    def test_expression_fill(self) -> None:
        q = compile_text(doc("- {id: N, type: numeric, text: A, min: 0, max: 9}\n- {info: i, text: 'x {=N + 1}'}\n"))
        fill = q.flow[1].text.parts["en"][1]
        assert fill.kind == "expr" and fill.expr.source == "N + 1"

    def test_check_message_may_use_the_question_itself(self) -> None:
        q = compile_text(
            doc(
                "- {id: N, type: numeric, text: A, min: 0, max: 9, "
                "checks: [{assert: 'N < 5', message: 'too many: {N}'}]}\n"
            )
        )
        (check,) = q.flow[0].checks
        assert check.severity == "hard" and check.index == 0


def test_unconditional_end_inside_a_block_does_not_hide_later_nodes() -> None:
    assert problems(doc("- block: b\n  show_if: 'true'\n  body:\n  - {end: SO}\n- {info: i, text: x}\n")) == []


def test_load_questionnaire_raises_with_all_problems() -> None:
    with pytest.raises(QuestionnaireError) as info:
        load_questionnaire(doc("- {id: A, type: nope}\n- {id: B, type: text}\n"), "x.yaml")
    assert [p.line for p in info.value.problems] == [10, 11]
    assert str(info.value).startswith("x.yaml:10:")


def test_check_file_reports_unreadable_files(tmp_path) -> None:
    (problem,) = check_file(tmp_path / "missing.yaml")
    assert problem.line == 0 and str(problem).endswith("missing.yaml: cannot read: No such file or directory")


def test_check_file_reads_no_more_than_the_limit(tmp_path, monkeypatch) -> None:
    """An endless file (/dev/zero behind a link) or a huge one is refused after MAX_BYTES,
    not read whole (cati check hung on /dev/zero)."""
    from cati.questionnaires import compiler

    read_sizes = []

    class Endless(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer) -> int:
            if sum(read_sizes) >= 3 * MAX_BYTES:  # "endless", but a test without the limit must end
                return 0
            read_sizes.append(len(buffer))
            buffer[:] = b"a" * len(buffer)
            return len(buffer)

    monkeypatch.setattr(compiler.Path, "open", lambda self, mode="r": io.BufferedReader(Endless()))
    (problem,) = check_file(tmp_path / "endless.yaml")
    assert str(problem).endswith(f"endless.yaml:1:1: file is larger than {MAX_BYTES:,} bytes")
    assert sum(read_sizes) <= MAX_BYTES + 4 + io.DEFAULT_BUFFER_SIZE


def test_check_file_accepts_a_bom_before_a_file_of_the_limit(tmp_path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + b"#" * (MAX_BYTES - 1) + b"\n")
    assert [p.message for p in check_file(path)] == ["the file is empty: expected a questionnaire (a mapping)"]


def test_quota_open_accepts_quota_dot_cell() -> None:
    text = doc(
        "- {id: S, type: single, text: s, options: [{code: 1, text: m}, {code: 2, text: w}]}\n"
        "- {info: i, text: x, show_if: \"quota_open('qa.w') and quota_open(qa)\"}\n"
        "- {quota: qa}\n",
        "quotas:\n  - {id: qa, on_full: SO, cells: [{id: m, if: 'S == 1', target: 1},"
        " {id: w, if: 'S == 2', target: 1}]}\n",
    )
    assert problems(text) == []
