"""Interviews on several questionnaire versions export into one file (the version-union rule)."""

from __future__ import annotations

import pyreadstat

from cati.exports import build_dataset, merge_codebooks, write
from cati.questionnaires.compiler import load_questionnaire
from cati.questionnaires.engine import Engine
from cati.questionnaires.simulate import run_script

V1 = """\
format: cati/1
id: welle
version: 1
title: Welle
languages: [de]
special_codes:
  DK: {code: 98, de: "weiß nicht"}
dispositions:
  COMPLETE: 1
flow:
  - {id: S, type: single, special: [DK], label: "S Frage", text: "S?",
     options: [{code: 1, de: eins}, {code: 2, de: zwei}]}
  - {id: N, type: numeric, min: 0, max: 50, special: [DK], label: "N Anzahl", text: "N?"}
  - {id: T, type: single, label: "T Typwechsel", text: "T?", options: [{code: 1, de: a}, {code: 2, de: b}]}
  - {id: M, type: multi, label: "M Mehrfach", text: "M?", options: [{code: 1, de: rot}, {code: 2, de: blau}]}
  - {id: X, type: single, label: "X entfällt", text: "X?", options: [{code: 1, de: ja}, {code: 2, de: nein}]}
"""

V2 = """\
format: cati/1
id: welle
version: 2
title: Welle
languages: [de]
special_codes:
  DK: {code: 98, de: "weiß nicht"}
dispositions:
  COMPLETE: 1
flow:
  - {id: S, type: single, special: [DK], label: "S Frage neu", text: "S?",
     options: [{code: 1, de: eins}, {code: 2, de: zwo}, {code: 3, de: drei}]}
  - {id: NEU, type: single, label: "NEU Frage", text: "Neu?", options: [{code: 1, de: ja}, {code: 2, de: nein}]}
  - {id: N, type: numeric, min: 0, max: 120, special: [DK], label: "N Anzahl", text: "N?"}
  - {id: T, type: text, max_length: 20, label: "T Typwechsel", text: "T?"}
  - {id: M, type: multi, label: "M Mehrfach", text: "M?",
     options: [{code: 1, de: rot}, {code: 2, de: blau}, {code: 3, de: grün}]}
"""


def engines():
    return Engine(load_questionnaire(V1, "v1.yaml")), Engine(load_questionnaire(V2, "v2.yaml"))


def rows():
    one, two = engines()
    out = []
    for n, answers in enumerate(
        [
            {"S": 2, "N": "DK", "T": 1, "M": [1, 2], "X": 1},
            {"S": 1, "N": 40, "T": 2, "M": [2], "X": 2},
        ]
    ):
        row = run_script(one, answers, seed=n).data | {"resp_id": f"a{n}", "attempts": 1}
        out.append(row)
    for n, answers in enumerate(
        [
            {"S": 3, "NEU": 1, "N": "DK", "T": "hallo", "M": [3]},
            {"S": "DK", "NEU": 2, "N": 98, "T": "welt", "M": [1, 3]},
        ]
    ):
        out.append(run_script(two, answers, seed=n).data | {"resp_id": f"b{n}", "attempts": 2})
    return out


def test_union_order_names_and_metadata():
    one, two = engines()
    merged = merge_codebooks({2: two.codebook(), 1: one.codebook()})
    names = [v.name for v in merged.variables if v.kind != "paradata"]
    assert names == ["S", "NEU", "N", "T", "T_v1", "M_1", "M_2", "M_3", "X"]
    by = {v.name: v for v in merged.variables}
    assert by["S"].label == "S Frage neu"
    assert by["S"].value_labels == {1: "eins", 2: "zwo", 3: "drei", 98: "weiß nicht"}
    assert (by["N"].missing, by["N"].value_labels, by["N"].spss_format) == ((9998,), {9998: "weiß nicht"}, "F4.0")
    assert (by["T"].spss_type, by["T"].spss_format) == ("string", "A20")
    assert (by["T_v1"].spss_type, by["T_v1"].label) == ("numeric", "T Typwechsel (v1)")
    assert by["M_3"].mr_set == "$M"
    assert merged.versions["X"] == (1,) and merged.versions["NEU"] == (2,) and merged.versions["S"] == (1, 2)
    assert merged.all_versions == (1, 2)
    notes = "\n".join(merged.notes)
    assert "T: Typ in Version 1 (numeric) anders als in Version 2 (string)" in notes and "T_v1" in notes
    assert "S: Variablenlabel geändert" in notes
    assert "S: Wertelabels geändert (2)" in notes
    assert "N: Sondercodes der Version 1 umcodiert (98->9998)" in notes


def test_rows_of_every_version_land_in_one_file(tmp_path):
    one, two = engines()
    ds = build_dataset({1: one.codebook(), 2: two.codebook()}, rows())
    frame = ds.frame
    assert ds.info.versions == (1, 2)
    assert frame["q_version"].tolist() == [1, 1, 2, 2]
    assert frame["N"].tolist() == [9998, 40, 9998, 98]  # v1's don't-know recoded; v2's 98 is a real 98
    assert frame["T_v1"].tolist()[:2] == [1, 2] and frame["T_v1"].isna().tolist()[2:] == [True, True]
    assert frame["T"].tolist() == [None, None, "hallo", "welt"]
    assert frame["X"].tolist()[:2] == [1, 2] and frame["X"].isna().tolist()[2:] == [True, True]
    assert frame["NEU"].isna().tolist()[:2] == [True, True]
    assert frame["M_3"].isna().tolist() == [True, True, False, False]  # the option did not exist in v1
    assert frame["S"].tolist() == [2, 1, 3, 98]
    assert ds.versions["X"] == (1,)
    sav, _sps = write(ds, "sav", tmp_path / "welle.sav")
    data, meta = pyreadstat.read_sav(str(sav), user_missing=True)
    assert meta.missing_ranges["N"] == [{"lo": 9998.0, "hi": 9998.0}]
    assert data["N"].tolist() == [9998, 40, 9998, 98]
    assert any("umcodiert" in note for note in meta.notes)


def test_one_codebook_without_versions():
    one, _ = engines()
    ds = build_dataset(one.codebook(), rows()[:2])
    assert ds.n_rows == 2
    assert ds.info.versions == ()
    assert ds.versions["S"] == ()


def test_english_notes():
    one, two = engines()
    merged = merge_codebooks({1: one.codebook(), 2: two.codebook()}, language="en")
    assert any("special codes of version 1 recoded (98->9998)" in note for note in merged.notes)
