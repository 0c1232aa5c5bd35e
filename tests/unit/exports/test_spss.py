"""SPSS round trips: .sav (row-compressed) and .zsav read back with pyreadstat match the dataset."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from cati.exports import ExportError, build_dataset, write
from cati.exports.dataset import ExportInfo, column_values
from cati.exports.spss import MAX_STRING_MISSING_BYTES, display_width, sps_text, spss_seconds, write_sav

from .helpers import dataset


@pytest.mark.parametrize("fmt", ["sav", "zsav"])
def test_round_trip(simulated, tmp_path, fmt):
    ds, _rows = simulated
    paths = write(ds, fmt, tmp_path / f"export.{fmt}")
    assert [p.name for p in paths] == [f"export.{fmt}", "export.sps"]
    frame, meta = pyreadstat.read_sav(str(paths[0]), user_missing=True)
    raw, raw_meta = pyreadstat.read_sav(str(paths[0]), user_missing=True, disable_datetime_conversion=True)
    assert_metadata(ds, meta, raw_meta)
    assert meta.number_rows == ds.n_rows
    assert_values(ds, frame, raw)


def assert_metadata(ds, meta, raw_meta) -> None:
    assert meta.column_names == ds.names
    assert meta.column_names_to_labels == {v.name: v.label for v in ds.variables}
    assert meta.original_variable_types == {v.name: v.spss_format for v in ds.variables}
    assert meta.variable_measure == {v.name: v.measure for v in ds.variables}
    assert meta.variable_display_width == {v.name: display_width(v) for v in ds.variables}
    expected_labels = {v.name: v.value_labels for v in ds.variables if v.value_labels and v.spss_type != "string"}
    assert meta.variable_value_labels == expected_labels
    missing = {}
    for v in ds.variables:
        if not v.missing:
            continue
        if v.spss_type == "string":
            if v.width > MAX_STRING_MISSING_BYTES:
                continue  # declared in the .sps only (see cati.exports.spss)
            missing[v.name] = [{"lo": str(c), "hi": str(c)} for c in v.missing]
        else:
            missing[v.name] = [{"lo": float(c), "hi": float(c)} for c in v.missing]
    assert raw_meta.missing_ranges == missing
    assert meta.file_label == ds.info.title
    assert meta.notes[0].startswith("Export aus cati")
    for v in ds.variables:
        if v.spss_type == "string":
            assert meta.readstat_variable_types[v.name] == "string"


def assert_values(ds, frame, raw) -> None:
    for i, v in enumerate(ds.variables):
        ours = ds.frame.iloc[:, i]
        expected = column_values(ours, v, 0, ds.n_rows)
        theirs = [None if _missing(x) else x for x in frame[v.name].tolist()]
        if v.spss_type == "string":
            assert theirs == ["" if x is None else x for x in expected], v.name
        elif v.spss_type in ("date", "datetime"):
            seconds = spss_seconds(ours).tolist()
            got = raw[v.name].to_numpy(dtype=float).tolist()
            assert [None if math.isnan(x) else x for x in got] == [None if math.isnan(x) else x for x in seconds]
            if ours.dtype.kind == "M":  # no special codes: pyreadstat gives dates back
                if v.spss_type == "datetime":
                    theirs = [None if x is None else pd.Timestamp(x).to_pydatetime() for x in theirs]
                assert theirs == expected, v.name
        else:
            assert [None if x is None else float(x) for x in theirs] == [
                None if x is None else float(x) for x in expected
            ], v.name


def _missing(x) -> bool:
    return x is None or x is pd.NaT or (isinstance(x, float) and math.isnan(x))


def test_specials_are_user_missing_and_off_route_is_sysmis(tmp_path):
    ds, rows = dataset("kundendienst", count=300, seed=5)
    write_sav(ds, tmp_path / "k.sav")
    frame, _ = pyreadstat.read_sav(str(tmp_path / "k.sav"))  # user-missing -> NaN
    coded, _ = pyreadstat.read_sav(str(tmp_path / "k.sav"), user_missing=True)
    n1 = [row.get("N1") for row in rows]
    assert {98, 99} & set(n1) and None in n1
    for raw, plain, kept in zip(n1, frame["N1"], coded["N1"], strict=True):
        if raw is None:
            assert math.isnan(plain) and math.isnan(kept)
        elif raw in (98, 99):
            assert math.isnan(plain) and kept == raw
        else:
            assert plain == kept == raw


def test_personal_data_is_written_only_on_request(tmp_path):
    plain, _ = dataset("haustech", count=15)
    contact, rows = dataset("haustech", count=15, include_pii=True)
    write_sav(plain, tmp_path / "plain.sav")
    write_sav(contact, tmp_path / "contact.sav")
    _, meta = pyreadstat.read_sav(str(tmp_path / "plain.sav"))
    assert not {"kd_name", "kd_tel", "F3"} & set(meta.column_names)
    frame, meta = pyreadstat.read_sav(str(tmp_path / "contact.sav"))
    assert {"kd_name", "kd_tel", "F3"} <= set(meta.column_names)
    assert frame["kd_name"].tolist() == [row["kd_name"] for row in rows]


def test_unknown_format_or_compression_is_refused(tmp_path):
    ds, _ = dataset("ebike", count=3)
    with pytest.raises(ExportError, match="unknown export format 'dta'"):
        write(ds, "dta", tmp_path / "x.dta")
    with pytest.raises(ExportError, match="compress"):
        write_sav(ds, tmp_path / "x.sav", compress="gzip")


def test_strings_are_padded_to_their_declared_width(tmp_path):
    codebook = _codebook()
    ds = build_dataset({1: codebook}, [{"T": None}, {"T": "ä"}])  # first value empty
    write_sav(ds, tmp_path / "w.sav")
    frame, meta = pyreadstat.read_sav(str(tmp_path / "w.sav"))
    assert meta.original_variable_types["T"] == "A10"
    assert meta.original_variable_types["resp_id"] == "A36"
    assert frame["T"].tolist() == ["", "ä"]


def test_no_rows_still_writes_a_readable_file(tmp_path):
    ds = build_dataset({1: _codebook()}, [])
    write_sav(ds, tmp_path / "e.sav")
    _frame, meta = pyreadstat.read_sav(str(tmp_path / "e.sav"))
    assert meta.number_rows == 0
    assert meta.column_names == ds.names
    assert meta.original_variable_types["S"] == "F2.0"


def test_long_labels_and_notes_are_cut_to_spss_limits(tmp_path):
    info = ExportInfo(title="Ü" * 50, notes=("n" * 200,))
    ds = build_dataset({1: _codebook()}, [{"S": 1}], info=info)
    write_sav(ds, tmp_path / "l.sav")
    _, meta = pyreadstat.read_sav(str(tmp_path / "l.sav"))
    assert meta.file_label == "Ü" * 32
    assert all(len(note.encode()) <= 80 for note in meta.notes)
    assert "".join(meta.notes).count("n") >= 200


def test_syntax_file_content():
    ds, _ = dataset("haustech", count=20)
    text = sps_text(ds, data_file="nps.sav")
    assert text.startswith("* Encoding: UTF-8.\n")
    assert "GET FILE='nps.sav'." in text
    assert "SAVE OUTFILE='nps.sav' /COMPRESSED." in text
    assert "VARIABLE LEVEL " in text and "(SCALE)" in text and "(ORDINAL)" in text
    assert "MISSING VALUES " in text
    assert "/N2 ('98', '99')" in text  # a long string: declared here only
    assert "N1 (98, 99)" in text
    assert "MRSETS\n  /MDGROUP NAME=$F1 LABEL='F1 Probleme (codiert)'" in text
    assert "VARIABLES=F1_1 F1_2 F1_3 F1_4 F1_96 F1_98 VALUE=1." in text
    assert "VALUE LABELS " in text and "98 'weiß nicht'" in text
    for line in text.splitlines():
        if line.startswith("*"):
            assert line.endswith(".")
    zipped = sps_text(ds, data_file="nps.zsav", compress="zlib")
    assert "SAVE OUTFILE='nps.zsav' /ZCOMPRESSED." in zipped


def test_quotes_in_labels_are_doubled():
    from cati.exports.spss import quote

    assert quote("it's") == "'it''s'"
    long = quote("wort " * 60)
    assert long.count("' +\n  '") >= 2


def test_date_numbers_count_from_the_gregorian_start():
    series = pd.Series([dt.datetime(1582, 10, 15), None], dtype="datetime64[s]")
    assert spss_seconds(series)[0] == 86400.0
    assert math.isnan(spss_seconds(series)[1])
    objects = pd.Series([dt.date(1582, 10, 16), 98, None], dtype=object)
    assert spss_seconds(objects)[:2].tolist() == [172800.0, 98.0]


def _codebook():
    from cati.questionnaires.compiler import load_questionnaire
    from cati.questionnaires.engine import Engine

    from .test_dataset import MINI

    return Engine(load_questionnaire(MINI, "mini.yaml")).codebook()


def test_the_sav_frame_shares_the_dataset_columns():
    """Memory: only dates (as SPSS numbers) and the pointer arrays of strings are new."""
    from cati.exports.spss import sav_frame

    ds, _ = dataset("lieferdienst", count=40)
    frame = sav_frame(ds)
    for v in ds.variables:
        ours, theirs = ds.frame[v.name].array, frame[v.name].array
        if isinstance(ours, pd.arrays.IntegerArray):
            assert np.shares_memory(ours._data, theirs._data), v.name
        elif v.spss_type == "numeric":
            assert np.shares_memory(ds.frame[v.name].to_numpy(), frame[v.name].to_numpy()), v.name
