"""AAPOR outcome rates (Standard Definitions): RR1-RR6, COOP1-COOP4, REF1-REF3, CON1-CON3.

Formulas exactly as in the domain notes (AAPOR Standard Definitions; the same as
``ropensci/outcomerate``). ``e`` - the share of unknown-eligibility cases (UH + UO) estimated to
be eligible - defaults to the proportional ("CASRO") estimator
``ELR = (I+P+R+NC+O) / (I+P+R+NC+O+NE)``; AAPOR requires the basis of ``e`` to be reported, so
the result carries the ``e`` used. A zero denominator gives None, never an error.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["RATE_NAMES", "aapor_rates", "eligibility_rate"]

RATE_NAMES = (
    "RR1", "RR2", "RR3", "RR4", "RR5", "RR6",
    "COOP1", "COOP2", "COOP3", "COOP4",
    "REF1", "REF2", "REF3",
    "CON1", "CON2", "CON3",
)
_CLASSES = ("I", "P", "R", "NC", "O", "UH", "UO", "NE")


def _div(numerator: float, denominator: float | None) -> float | None:
    if denominator is None or denominator == 0:
        return None
    return numerator / denominator


def _counts(counts: Mapping[str, float]) -> dict[str, float]:
    unknown = set(counts) - set(_CLASSES)
    if unknown:
        raise ValueError(f"unknown rate class(es): {', '.join(sorted(unknown))}; expected {', '.join(_CLASSES)}")
    values = {c: float(counts.get(c, 0) or 0) for c in _CLASSES}
    negative = [c for c, v in values.items() if v < 0]
    if negative:
        raise ValueError(f"negative count for {', '.join(negative)}")
    return values


def eligibility_rate(counts: Mapping[str, float]) -> float | None:
    """ELR = (I+P+R+NC+O) / (I+P+R+NC+O+NE): eligibility among cases whose eligibility is known."""
    c = _counts(counts)
    eligible = c["I"] + c["P"] + c["R"] + c["NC"] + c["O"]
    return _div(eligible, eligible + c["NE"])


def aapor_rates(counts: Mapping[str, float], e: float | None = None) -> dict[str, float | None]:
    """All rates from counts per class (missing classes count 0). Returns the 16 rates plus
    ``"e"`` (the value used, None if it could not be estimated: then RR3/RR4/REF2/CON2 are None
    unless there are no unknown-eligibility cases)."""
    c = _counts(counts)
    if e is None:
        e = eligibility_rate(c)
    elif not 0 <= e <= 1:
        raise ValueError(f"e must lie between 0 and 1, got {e}")
    i, p, r, nc, o, uh, uo = (c[k] for k in ("I", "P", "R", "NC", "O", "UH", "UO"))
    ip = i + p
    known = ip + (r + nc + o)
    unknown = uh + uo
    all_cases = known + unknown
    if e is not None:
        with_e: float | None = known + e * unknown
    else:
        with_e = known if unknown == 0 else None
    contacted = ip + (r + o)
    return {
        "RR1": _div(i, all_cases),
        "RR2": _div(ip, all_cases),
        "RR3": _div(i, with_e),
        "RR4": _div(ip, with_e),
        "RR5": _div(i, known),
        "RR6": _div(ip, known),
        "COOP1": _div(i, ip + r + o),
        "COOP2": _div(ip, ip + r + o),
        "COOP3": _div(i, ip + r),
        "COOP4": _div(ip, ip + r),
        "REF1": _div(r, all_cases),
        "REF2": _div(r, with_e),
        "REF3": _div(r, known),
        "CON1": _div(contacted, all_cases),
        "CON2": _div(contacted, with_e),
        "CON3": _div(contacted, known),
        "e": e,
    }
