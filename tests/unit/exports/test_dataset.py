"""The export model: codebook order, compact columns, every value kept, personal data left out."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from cati.exports import ATTEMPTS, ExportError, ExportInfo, build_dataset
from cati.questionnaires.compiler import load_questionnaire
from cati.questionnaires.engine import Engine

from .helpers import dataset, expected_value, load, same


def test_variables_follow_the_codebook_without_personal_data(simulated):
    ds, _rows = simulated
    q_codebook = Engine(load(_name(ds))).codebook()
    expected = [v.name for v in q_codebook if not v.pii]
    expected.insert(expected.index("n_soft_overrides") + 1, ATTEMPTS)
    assert ds.names == expected
    assert list(ds.frame.columns) == expected
    assert ds.info.excluded == tuple(v.name for v in q_codebook if v.pii)
    for v in ds.variables:
        if v.name != ATTEMPTS:
            assert v == next(c for c in q_codebook if c.name == v.name)


def test_every_value_is_kept(simulated):
    ds, rows = simulated
    assert ds.n_rows == len(rows)
    for row, values in zip(rows, ds.iter_rows(chunk_size=37), strict=True):
        for v, value in zip(ds.variables, values, strict=True):
            assert same(expected_value(v, row.get(v.name)), value), (v.name, row.get(v.name), value)


def test_columns_are_compact(simulated):
    ds, _rows = simulated
    for v in ds.variables:
        column = ds.frame[v.name]
        if v.spss_type == "numeric":
            decimals = int(v.spss_format.split(".")[1])
            if decimals:
                assert column.dtype == np.float64, v.name
            else:
                assert str(column.dtype) in ("Int8", "Int16", "Int32"), (v.name, column.dtype)
        elif v.spss_type == "string":
            assert column.dtype == object
        elif column.dtype == object:  # a date question whose don't-know is a code
            assert v.missing
            assert any(isinstance(x, int) for x in column)
        else:
            assert column.dtype == "datetime64[s]", v.name
    codes = [c for c in ds.frame.columns if str(ds.frame[c].dtype) == "Int8"]
    assert codes and all(ds.frame[c].memory_usage(index=False) <= 2 * ds.n_rows for c in codes)


def test_personal_data_only_on_request():
    ds, rows = dataset("haustech", count=30, include_pii=True)
    assert {"kd_name", "kd_tel", "F3"} <= set(ds.names)
    assert ds.info.excluded == ()
    assert [row["kd_name"] for row in rows] == ds.frame["kd_name"].tolist()


def test_chunks_do_not_change_the_result():
    ds, rows = dataset("lieferdienst", count=50, seed=3)
    q = load("lieferdienst")
    small = build_dataset({q.version: Engine(q).codebook()}, (r for r in rows), chunk_size=7, info=ds.info)
    pd.testing.assert_frame_equal(small.frame, ds.frame)
    assert small.variables == ds.variables


def test_date_with_special_codes_keeps_dates_and_codes():
    ds, rows = dataset("kundendienst", count=300, seed=5)
    column = ds.frame["C3"]
    values = [row["C3"] for row in rows if row.get("C3") is not None]
    assert 98 in values, "the simulation should produce a don't-know date"
    assert column.dtype == object
    assert {type(x) for x in column} <= {dt.date, int, type(None)}


def test_timestamps_keep_wall_clock_or_convert_to_a_zone():
    codebook = _mini().codebook()
    rows = [{"start_ts": "2025-03-30T01:30:00+01:00", "end_ts": "2025-03-30T03:10:00+02:00"}]
    local = build_dataset({1: codebook}, rows)
    assert local.frame["start_ts"][0] == pd.Timestamp("2025-03-30 01:30:00")
    assert local.frame["end_ts"][0] == pd.Timestamp("2025-03-30 03:10:00")
    assert local.info.timezone == ""
    utc = build_dataset({1: codebook}, rows, timezone="UTC")
    assert utc.frame["start_ts"][0] == pd.Timestamp("2025-03-30 00:30:00")
    assert utc.frame["end_ts"][0] == pd.Timestamp("2025-03-30 01:10:00")
    assert utc.info.timezone == "UTC"
    with pytest.raises(ExportError, match="time zone"):
        build_dataset({1: codebook}, rows, timezone="Mars/Olympus")


def test_datetime_objects_are_accepted():
    codebook = _mini().codebook()
    aware = dt.datetime(2025, 1, 2, 10, 0, tzinfo=dt.UTC)
    rows = [{"start_ts": aware, "end_ts": dt.datetime(2025, 1, 2, 11, 0), "D": dt.date(2024, 5, 6)}]
    ds = build_dataset({1: codebook}, rows)
    assert ds.frame["start_ts"][0] == pd.Timestamp("2025-01-02 10:00")
    assert ds.frame["D"][0] == pd.Timestamp("2024-05-06")


def test_a_text_longer_than_declared_widens_the_variable_and_says_so():
    codebook = _mini().codebook()
    rows = [{"T": "kurz"}, {"T": "ä" * 6}]  # T is A10; 12 bytes
    ds = build_dataset({1: codebook}, rows)
    t = ds.variable("T")
    assert (t.width, t.spss_format) == (12, "A12")
    assert any("T:" in note and "12" in note for note in ds.info.notes)


def test_wrong_values_name_the_variable_and_row():
    codebook = _mini().codebook()
    with pytest.raises(ExportError, match=r"S: a number expected, got 'abc' \(row 2\)"):
        build_dataset({1: codebook}, [{"S": 1}, {"S": "abc"}])
    with pytest.raises(ExportError, match=r"D: an ISO date expected, got 'gestern' \(row 1\)"):
        build_dataset({1: codebook}, [{"D": "gestern"}])


def test_numbers_that_outgrow_small_types_and_decimals():
    codebook = _mini().codebook()
    rows = [{"N": 5}, {"N": 70000}, {"S": 1, "N": None}]
    ds = build_dataset({1: codebook}, rows, chunk_size=1)
    assert str(ds.frame["N"].dtype) == "Int32"
    assert ds.frame["N"].tolist() == [5, 70000, pd.NA]
    ds = build_dataset({1: codebook}, [{"N": 2.5}])
    assert ds.frame["N"].dtype == np.float64
    assert any("N:" in note for note in ds.info.notes)


def test_no_rows_gives_an_empty_dataset_with_every_variable():
    codebook = _mini().codebook()
    ds = build_dataset({1: codebook}, [])
    assert ds.n_rows == 0
    assert ds.names[:10] == [
        "resp_id", "disposition", "q_version", "lang", "interviewer_id",
        "start_ts", "end_ts", "duration_s", "n_soft_overrides", ATTEMPTS,
    ]  # fmt: skip
    assert list(ds.iter_rows()) == []


def test_a_question_named_attempts_is_refused():
    # The checker reserves the name; the exporter still guards codebooks built some other way.
    from dataclasses import replace

    from cati.questionnaires.errors import QuestionnaireError

    with pytest.raises(QuestionnaireError, match="reserved for paradata"):
        load_questionnaire(MINI.replace("id: N,", "id: attempts,"), "q.yaml")
    codebook = [replace(v, name="attempts") if v.name == "N" else v for v in _mini().codebook()]
    with pytest.raises(ExportError, match="attempts"):
        build_dataset({1: codebook}, [])


def test_info_is_completed():
    ds = build_dataset({1: _mini().codebook()}, [], info=ExportInfo(study="s", language="en"))
    assert ds.info.versions == (1,)
    assert ds.info.exported_at is not None and ds.info.exported_at.tzinfo is not None
    assert ds.variable(ATTEMPTS).label == "Number of call attempts"


MINI = """\
format: cati/1
id: mini
version: 1
title: Mini
languages: [de]
dispositions:
  COMPLETE: 1
flow:
  - {id: S, type: single, special: [DK], text: "S?", options: [{code: 1, de: eins}, {code: 2, de: zwei}]}
  - {id: N, type: numeric, min: 0, max: 50, text: "N?"}
  - {id: T, type: text, max_length: 10, text: "T?"}
  - {id: D, type: date, text: "D?"}
"""


def _mini() -> Engine:
    return Engine(load_questionnaire(MINI, "mini.yaml"))


def _name(ds) -> str:
    return {
        "ebike_abo_konzept": "ebike",
        "haustech_nachkauf": "haustech",
        "kundendienst_zufriedenheit": "kundendienst",
        "lieferdienst_nachfrage": "lieferdienst",
    }[ds.info.questionnaire_id]
