"""Export variables: names, formats, labels, missing codes, MR sets (questionnaire-format §2-§4)."""

from __future__ import annotations

import pytest

from cati.questionnaires import model
from cati.questionnaires.codebook import build_codebook
from cati.questionnaires.compiler import load_file, widen_special_codes

from .helpers import EXAMPLES, compile_text, doc

PARADATA = [
    "resp_id",
    "disposition",
    "q_version",
    "lang",
    "interviewer_id",
    "start_ts",
    "end_ts",
    "duration_s",
    "n_soft_overrides",
]


def by_name(variables: list[model.ExportVariable]) -> dict[str, model.ExportVariable]:
    return {v.name: v for v in variables}


@pytest.fixture(scope="module")
def ebike() -> list[model.ExportVariable]:
    return build_codebook(load_file(EXAMPLES / "ebike_abo_konzept.yaml"))


class TestEbike:
    def test_exact_names_in_export_order(self, ebike: list[model.ExportVariable]) -> None:
        assert [v.name for v in ebike] == [
            *PARADATA,
            "S1", "S2", "S3_1", "S3_2", "S3_3", "S3_5", "S3_ord", "S4", "quota_alter_geschlecht",
            "K1_1", "K1_2", "K1_3", "K1_96", "K1_98", "K1_oth", "K1_ord",
            "K2_1", "K2_2", "K2_3", "K3", "K3_t2b", "K4_1", "K4_2", "K4_3", "K4_4", "K4_ord",
            "P1", "P2", "P3", "P4", "P5", "P6", "D1", "D2", "D3", "D4",
        ]  # fmt: skip

    def test_numeric_widening_and_formats(self, ebike: list[model.ExportVariable]) -> None:
        v = by_name(ebike)
        assert (v["P1"].spss_format, v["P1"].missing, v["P1"].value_labels) == ("F7.2", (9998,), {9998: "weiß nicht"})
        assert (v["S1"].spss_format, v["S1"].missing) == ("F3.0", (999,))  # max 99 -> 997/998/999
        assert (v["D1"].spss_format, v["D1"].missing) == ("F2.0", (99,))  # max 20 keeps 97/98/99
        assert v["D1"].measure == "scale"

    def test_multi_dichotomies_and_mr_set(self, ebike: list[model.ExportVariable]) -> None:
        v = by_name(ebike)
        k1 = [x for x in ebike if x.mr_set == "$K1"]
        assert [x.name for x in k1] == ["K1_1", "K1_2", "K1_3", "K1_96", "K1_98"]
        assert all(x.kind == "dichotomy" and x.answer_key == "K1" and x.spss_format == "F1.0" for x in k1)
        assert v["K1_98"].special == "DK" and v["K1_98"].code == 98
        assert v["K1_2"].label == "K1 Bekanntheit Abo-Anbieter (gestützt): Radpass"
        assert v["K1_2"].value_labels == {0: "nicht genannt", 1: "genannt"}
        assert (v["K1_oth"].spss_format, v["K1_oth"].kind, v["K1_oth"].mr_set) == ("A80", "value", None)

    def test_single_value_labels_and_missing(self, ebike: list[model.ExportVariable]) -> None:
        s2 = by_name(ebike)["S2"]
        assert s2.value_labels == {1: "männlich", 2: "weiblich", 3: "divers", 99: "keine Angabe"}
        assert s2.missing == (99,) and s2.measure == "nominal" and s2.spss_format == "F2.0"

    def test_orders(self, ebike: list[model.ExportVariable]) -> None:
        v = by_name(ebike)
        assert (v["S3_ord"].kind, v["S3_ord"].answer_key, v["S3_ord"].spss_format) == ("order", "S3", "A7")
        assert v["K4_ord"].spss_format == "A7"

    def test_loop_iterations_fill_the_label(self, ebike: list[model.ExportVariable]) -> None:
        v = by_name(ebike)
        assert v["K2_2"].label == "K2 Sympathie Radpass"
        assert v["K2_2"].answer_key == "K2_2" and v["K2_2"].question_id == "K2"
        assert v["K2_2"].show_if == "selected(K1, 2)"

    def test_grid_rows(self, ebike: list[model.ExportVariable]) -> None:
        k4 = by_name(ebike)["K4_3"]
        assert k4.label == "K4 Wichtigkeit Leistungsmerkmale: die monatliche Kündbarkeit"
        assert k4.measure == "ordinal" and k4.missing == (98,) and k4.code == 3

    def test_quota_and_paradata(self, ebike: list[model.ExportVariable]) -> None:
        v = by_name(ebike)
        assert v["quota_alter_geschlecht"].value_labels[5] == "divers_ka"
        assert v["disposition"].value_labels[31] == "QUOTA_FULL"
        assert v["start_ts"].spss_format == "DATETIME20"

    def test_text_and_show_if_for_the_excel_codebook(self, ebike: list[model.ExportVariable]) -> None:
        v = by_name(ebike)
        assert v["P1"].show_if == "K3 != 5"
        assert v["S1"].text == "Wie alt sind Sie?"


def test_haustech_pii_and_sample_fields() -> None:
    v = by_name(build_codebook(load_file(EXAMPLES / "haustech_nachkauf.yaml")))
    assert v["kd_name"].pii and v["kd_tel"].pii and v["F3"].pii and not v["produkt"].pii
    assert v["kaufdatum"].spss_format == "EDATE10"
    assert v["N1"].value_labels[10] == "äußerst wahrscheinlich" and v["N1"].missing == (98, 99)
    assert v["C1_3"].show_if == "montage == 1"
    assert v["F3"].show_if == "(N1_band == 1 or C1_min >= 4) and (F2 == 1)"


@pytest.mark.parametrize(
    ("maximum", "codes", "fmt"),
    [
        (50, {"NA": 97, "DK": 98, "REF": 99}, "F2.0"),
        (99, {"NA": 997, "DK": 998, "REF": 999}, "F3.0"),
        (120, {"NA": 9997, "DK": 9998, "REF": 9999}, "F4.0"),
        (500, {"NA": 9997, "DK": 9998, "REF": 9999}, "F4.0"),
    ],
)
def test_special_code_widening(maximum: int, codes: dict[str, int], fmt: str) -> None:
    assert widen_special_codes(model.DEFAULT_SPECIAL_CODES, maximum) == codes
    q = compile_text(doc(f"- {{id: N, type: numeric, text: A, min: 0, max: {maximum}, special: [DK, REF, NA]}}\n"))
    n = by_name(build_codebook(q))["N"]
    assert n.missing == tuple(sorted(codes.values())) and n.spss_format == fmt
    assert n.value_labels == {codes["NA"]: "not applicable", codes["DK"]: "don't know", codes["REF"]: "refused"}


def test_per_question_special_codes_override() -> None:
    q = compile_text(
        doc("- {id: N, type: numeric, text: A, min: 0, max: 500, special: [DK], special_codes: {DK: -1}}\n")
    )
    n = by_name(build_codebook(q))["N"]
    assert n.missing == (-1,) and n.spss_format == "F4.0"


def test_nested_and_count_loops() -> None:
    q = compile_text(
        doc(
            "- {id: M, type: multi, text: A, options: [{code: 1, text: Red}, {code: 2, text: Blue}]}\n"
            "- loop: outer\n"
            "  over: M\n"
            "  body:\n"
            "  - {id: R, type: single, label: 'Rating {$label}', text: 'Rate {$label}', "
            "options: [{code: 1, text: good}, {code: 2, text: bad}]}\n"
            "  - loop: inner\n"
            "    count: R\n"
            "    max: 2\n"
            "    body:\n"
            "    - {id: T, type: text, label: Note, text: 'Note {$code}', max_length: 10}\n"
            "- {info: i, text: '{R_1:label} {T_2_1}', show_if: 'R_2 == 1'}\n"
        )
    )
    v = build_codebook(q)
    names = [x.name for x in v if x.kind != "paradata"]
    assert names == ["M_1", "M_2", "R_1", "T_1_1", "T_1_2", "R_2", "T_2_1", "T_2_2"]
    labels = by_name(v)
    assert labels["R_2"].label == "Rating Blue"
    assert labels["T_2_1"].label == "Note (Blue, 1)"
    assert labels["T_1_2"].show_if == "(selected(M, 1)) and ((R) >= 2)"


def test_loop_over_a_list_and_static_where() -> None:
    q = compile_text(
        doc(
            "- loop: L\n  over: brands\n  where: '$code != 3'\n  body:\n"
            "  - {id: B, type: numeric, label: 'Spend on {$label}', text: 'Spend on {$label}?', min: 0, max: 10}\n",
            top="lists:\n  brands: [{code: 1, text: Aa}, {code: 2, text: Bb}, {code: 3, text: Cc}]\n",
        )
    )
    loop = q.flow[0]
    assert loop.items is not None and loop.over is None
    names = [x.name for x in build_codebook(q) if x.kind != "paradata"]
    assert names == ["B_1", "B_2"]


def test_randomised_block_order_variable_comes_first() -> None:
    q = compile_text(
        doc(
            "- block: blk\n  randomize: rotate\n  body:\n"
            "  - {id: A1, type: text, text: A}\n  - {id: A2, type: text, text: B}\n"
        )
    )
    v = [x for x in build_codebook(q) if x.kind != "paradata"]
    assert [x.name for x in v] == ["blk_ord", "A1", "A2"]
    assert v[0].spss_format == "A5" and v[0].kind == "order"


def test_label_falls_back_to_the_text() -> None:
    q = compile_text(doc("- {id: Q, type: text, text: 'What is {{this}}?'}\n"))
    assert by_name(build_codebook(q))["Q"].label == "What is {this}?"


def test_long_text_without_label_leaves_room_for_generated_labels() -> None:
    """The stand-in for a missing label is shortened so that '<text>: <option>', grid rows,
    specify texts, orders and loop items all fit 256 bytes (the checker refused them before)."""
    text, long = "Ä" * 200, "o" * 110
    q = compile_text(
        doc(
            f"- {{id: M, type: multi, text: '{text}', special: [DK], randomize: shuffle,\n"
            f"   options: [{{code: 1, text: {long}, other: {{id: M_oth}}}}, {{code: 2, text: b}}]}}\n"
            f"- {{id: G, type: grid, text: '{text}', rows: [{{code: 1, text: {long}}}],\n"
            "   options: [{code: 1, text: a}]}\n"
            "- loop: L\n"
            "  over: items\n"
            f"  body: [{{id: T, type: text, text: '{text}'}}]\n",
            f"lists: {{items: [{{code: 1, text: {long}}}]}}\n",
        )
    )
    v = by_name(build_codebook(q))
    for name in ("M_1", "M_2", "M_98", "M_oth", "M_ord", "G_1", "T_1"):
        assert len(v[name].label.encode()) <= 256, name
        assert v[name].label.startswith("ÄÄÄ") and "…" in v[name].label, name
    assert v["M_1"].label.endswith(f"…: {long}") and v["T_1"].label.endswith(f"… ({long})")
    assert v["M_2"].label.endswith("…: b")


def test_computed_string_and_options() -> None:
    q = compile_text(
        doc(
            "- {id: A, type: text, text: A, max_length: 20}\n"
            "- {id: C, type: computed, expr: 'A', max_length: 20}\n"
            "- {id: D, type: computed, expr: '1', options: [{code: 1, text: one}]}\n"
        )
    )
    d = by_name(build_codebook(q))["D"]
    assert d.value_labels == {1: "one"} and d.spss_format == "F1.0"


def test_computed_type_follows_the_variables_it_uses() -> None:
    q = compile_text(
        doc(
            "- {id: A, type: text, text: A, max_length: 20}\n"
            "- {id: N, type: numeric, text: B, min: 0, max: 9}\n"
            "- {id: C, type: computed, expr: 'A + \"!\"', max_length: 21}\n"
            "- {id: D, type: computed, expr: 'N * 2', decimals: 0}\n"
            "- {id: K, type: multi, text: A, options: [{code: 1, text: a}, {code: 3, text: c}]}\n"
            "- {id: L, type: computed, expr: 'K'}\n"
            "- {id: L2, type: computed, expr: 'iif(L == [1], [7], null)', max_length: 20}\n"
        )
    )
    v = by_name(build_codebook(q))
    assert (v["C"].spss_type, v["C"].spss_format) == ("string", "A21")
    assert (v["D"].spss_type, v["D"].spss_format) == ("numeric", "F12.0")
    # a list is exported as the text of its codes ("1,3"); it stays a list for L2
    assert (v["L"].spss_type, v["L"].spss_format) == ("string", "A255")
    assert (v["L2"].spss_type, v["L2"].spss_format) == ("string", "A20")


def test_sample_field_label() -> None:
    q = compile_text(
        doc("- {info: i, text: x}\n", top="sample:\n  - {name: region, type: text, label: 'Region (CRM)'}\n")
    )
    assert by_name(build_codebook(q))["region"].label == "Region (CRM)"


def test_one_label_rule_for_variable_generated_and_value_labels() -> None:
    q = compile_text(
        doc(
            "- {id: A, type: single, text: a, options: [{code: 1, text: 'one {{x}}'}]}\n"
            "- {id: G, type: grid, text: 'G {A} {A:label}', rows: [{code: 1, text: 'R{{1}}'}],"
            " options: [{code: 1, text: 'ok {A}'}]}\n"
            "- {id: M, type: multi, text: 'M {=A + 1} {$interviewer}', options: [{code: 1, text: 'x {A:label}'}]}\n"
            "- loop: L\n  over: A\n  body:\n"
            "  - {id: K, type: multi, text: 'K {$label}', options: [{code: 1, text: '{$label} gut'}]}\n"
        )
    )
    v = by_name(build_codebook(q))
    assert v["A"].value_labels == {1: "one {x}"}
    assert v["G_1"].label == "G {A} {A:label}: R{1}"
    assert v["G_1"].value_labels == {1: "ok {A}"}
    assert v["M_1"].label == "M {=A + 1} {$interviewer}: x {A:label}"
    assert v["K_1_1"].label == "K one {x}: one {x} gut"
