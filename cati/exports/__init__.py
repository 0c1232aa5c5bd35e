"""Data exports: one export model (:class:`Dataset`) and writers for SPSS, Excel, CSV and Triple-S.

Pure code: no web or database imports (an import-linter contract enforces it). The server side
selects interviews, turns each into a row dict (``Engine.export_row`` plus ``attempts``) and
calls::

    dataset = build_dataset({version: codebook, ...}, rows, info=ExportInfo(study=..., title=...))
    paths = write(dataset, "sav", target_dir / "study.sav")

See ``docs/exports.md`` for what each file contains and :mod:`cati.exports.dataset` for the
row contract and the version-union rule.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .dataset import (
    ATTEMPTS,
    Dataset,
    ExportError,
    ExportInfo,
    MRSet,
    attempts_variable,
    build_dataset,
    merge_codebooks,
    mr_sets,
)

FORMATS = ("sav", "zsav", "xlsx", "csv", "sss")
SUFFIXES = {"sav": ".sav", "zsav": ".zsav", "xlsx": ".xlsx", "csv": ".csv", "sss": ".sss"}


def write(dataset: Dataset, format: str, path: str | Path, **options: Any) -> list[Path]:
    """Write ``dataset`` in ``format`` (one of :data:`FORMATS`) to ``path``; returns every file
    written (data first, then syntax/codebook/data companions).

    Options: ``sav``/``zsav``: ``sps`` (default True); ``xlsx``: ``labels``, ``language``;
    ``csv``: ``codebook``, ``delimiter``, ``bom``, ``decimal``, ``labels`` (``**csv.EXCEL`` for
    Excel); ``sss``: ``multiple`` (``"spread"``/``"bitstring"``), ``data_path``.
    """
    path = Path(path)
    if format in ("sav", "zsav"):
        from .spss import write_sav

        return write_sav(dataset, path, compress="zlib" if format == "zsav" else "rows", **options)
    if format == "xlsx":
        from .excel import write_xlsx

        return [write_xlsx(dataset, path, **options)]
    if format == "csv":
        from .csv import write_csv

        return write_csv(dataset, path, **options)
    if format == "sss":
        from .triples import write_sss

        return write_sss(dataset, path, **options)
    raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")


__all__ = [
    "ATTEMPTS",
    "FORMATS",
    "SUFFIXES",
    "Dataset",
    "ExportError",
    "ExportInfo",
    "MRSet",
    "attempts_variable",
    "build_dataset",
    "merge_codebooks",
    "mr_sets",
    "write",
]
