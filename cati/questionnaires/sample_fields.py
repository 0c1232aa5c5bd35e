"""Sample fields as the questionnaire sees them: typed values from the stored contact record.

The questionnaire's ``sample:`` section declares fields by name and type. Values come from three
places: non-personal fields stored with the case, personal ones stored with the contact, and the
standard columns (``name``, ``postcode``, ``state``, ``phone`` ...) that the importer keeps in
their own columns. One typing rule serves the importer (to reject bad rows) and the interview
(to preload), so a value that imported is a value the engine accepts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any, Protocol

_CODE_RE = re.compile(r"[-+]?[0-9]+")


class FieldSpec(Protocol):
    name: str
    type: str
    options: Any
    pii: bool


def typed_value(spec: FieldSpec, raw: Any) -> Any:
    """The value of a sample field in its declared type; None for empty. Raises ValueError."""
    if raw is None:
        return None
    if isinstance(raw, Mapping | list | tuple | set):  # a nested YAML value in a simulate --sample file
        raise ValueError(f"expected one value, found a {'mapping' if isinstance(raw, Mapping) else 'list'}")
    if not isinstance(raw, str):
        return raw  # already typed (stored as such)
    value = raw.strip()
    if value == "":
        return None
    # the messages name the value, not Python's parse error ("invalid literal for int() ...")
    if spec.type == "single":
        if not _CODE_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not an option code (a whole number)")
        code = int(value)
        if spec.options and code not in {o.code for o in spec.options}:
            raise ValueError(f"code {code} is not an option of {spec.name}")
        return code
    if spec.type == "numeric":
        try:
            number = float(value.replace(",", "."))
        except ValueError:
            number = math.nan
        if not math.isfinite(number):
            raise ValueError(f"{value!r} is not a number")
        return int(number) if number.is_integer() else number
    if spec.type == "date":
        try:
            return dt.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            raise ValueError(f"{value!r} is not an ISO date (2026-10-10)") from None
    return value


def preload(specs: tuple[FieldSpec, ...], case_fields: Mapping[str, Any], pii_fields: Mapping[str, Any],
            standard: Mapping[str, Any]) -> dict[str, Any]:
    """Values for every declared field: the case's typed fields, else the contact's personal
    fields, else a standard column of the same name. A value that no longer types (the
    questionnaire changed) is left out rather than breaking the interview."""
    values: dict[str, Any] = {}
    for spec in specs:
        for source in (case_fields, pii_fields, standard):
            if spec.name in source and source[spec.name] not in (None, ""):
                with contextlib.suppress(ValueError):
                    values[spec.name] = typed_value(spec, source[spec.name])
                break
    return values
