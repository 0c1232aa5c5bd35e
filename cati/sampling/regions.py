"""German federal states: codes, names and (very cautiously) postcodes.

The state decides which public holidays block calls, so a wrong state means calls on a holiday
(ADM guideline: no calls on public holidays). Hence:

* :func:`state_code` accepts the 16 codes used by the ``holidays`` package (ISO 3166-2:DE without
  the ``DE-`` prefix, which is also accepted), German and English names and the usual spellings
  without umlauts. Anything else is unknown (None) - never a guess.
* :func:`state_from_postcode` derives a state only for a short, hand-checked list of two-digit
  postcode regions ("Leitregionen") around large cities that lie entirely inside one state.
  German postcode areas do not follow state borders (01 and 04 reach into Brandenburg, 12529
  Schönefeld is Brandenburg, 55246/55252 Mainz-Kostheim/-Kastel belong to Wiesbaden in Hesse,
  28790 Schwanewede is Lower Saxony, 63739 Aschaffenburg is Bavaria, 76829 Landau is
  Rhineland-Palatinate ...). No authoritative postcode-to-state table ships with the project
  (the public GeoNames extracts contain misassigned postcodes), so every other postcode yields
  None and the contact gets the union of all states' holidays, which is the safe side.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["STATES", "STATE_CODES", "state_code", "state_from_postcode", "state_name", "subdivision_code"]

#: code -> (German name, English name)
STATES: dict[str, tuple[str, str]] = {
    "BB": ("Brandenburg", "Brandenburg"),
    "BE": ("Berlin", "Berlin"),
    "BW": ("Baden-Württemberg", "Baden-Württemberg"),
    "BY": ("Bayern", "Bavaria"),
    "HB": ("Bremen", "Bremen"),
    "HE": ("Hessen", "Hesse"),
    "HH": ("Hamburg", "Hamburg"),
    "MV": ("Mecklenburg-Vorpommern", "Mecklenburg-Western Pomerania"),
    "NI": ("Niedersachsen", "Lower Saxony"),
    "NW": ("Nordrhein-Westfalen", "North Rhine-Westphalia"),
    "RP": ("Rheinland-Pfalz", "Rhineland-Palatinate"),
    "SH": ("Schleswig-Holstein", "Schleswig-Holstein"),
    "SL": ("Saarland", "Saarland"),
    "SN": ("Sachsen", "Saxony"),
    "ST": ("Sachsen-Anhalt", "Saxony-Anhalt"),
    "TH": ("Thüringen", "Thuringia"),
}
STATE_CODES: tuple[str, ...] = tuple(sorted(STATES))

_EXTRA_NAMES = {
    "BW": ("Baden-Wurttemberg", "BaWü", "Ba-Wü"),
    "BY": ("Freistaat Bayern",),
        "MV": ("Mecklenburg-West Pomerania", "MVP"),
    "NI": ("Nds",),
    "NW": ("NRW", "Northrhine-Westphalia"),
    "RP": ("RLP",),
    "SN": ("Freistaat Sachsen",),
    "TH": ("Freistaat Thüringen", "Thuringen"),
    "HB": ("Freie Hansestadt Bremen",),
    "HH": ("Freie und Hansestadt Hamburg",),
}
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_NOISE = re.compile(r"[\s\-_.'/]+")

#: Two-digit postcode regions that lie entirely in one state (checked by hand, see module doc):
#: the Leitregionen of Berlin, Hamburg, Hanover, Düsseldorf, Dortmund/Bochum, Essen/Gelsenkirchen,
#: Cologne, Frankfurt am Main, Stuttgart, Munich and Nuremberg.
POSTCODE_REGIONS: dict[str, str] = {
    "10": "BE",
    "20": "HH",
    "30": "NI",
    "40": "NW",
    "44": "NW",
    "45": "NW",
    "50": "NW",
    "60": "HE",
    "70": "BW",
    "80": "BY",
    "81": "BY",
    "90": "BY",
}


def _key(text: str) -> str:
    return _NOISE.sub("", text.strip().casefold().translate(_UMLAUTS))


def _build_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for code, names in STATES.items():
        for name in (code, f"DE-{code}", *names, *_EXTRA_NAMES.get(code, ())):
            index[_key(name)] = code
            # Umlaut-free spellings: "Baden-Wurttemberg", "Thuringen" (dropped dots) as well as "ue".
            index[_key(name.replace("ü", "u").replace("ä", "a").replace("ö", "o"))] = code
    return index


_INDEX = _build_index()


def state_code(value: str | None) -> str | None:
    """``"NW"``, ``"nw"``, ``"DE-NW"``, ``"Nordrhein-Westfalen"``, ``"North Rhine-Westphalia"``,
    ``"NRW"`` -> ``"NW"``; unknown or empty -> None."""
    if not value:
        return None
    return _INDEX.get(_key(value))


def state_name(code: str, language: str = "de") -> str:
    german, english = STATES[code]
    return german if language == "de" else english


def state_from_postcode(postcode: str | None) -> str | None:
    """The state of a German five-digit postcode, only where the whole two-digit region lies in
    one state (:data:`POSTCODE_REGIONS`); None otherwise - callers then treat the state as
    unknown."""
    if not postcode:
        return None
    text = postcode.strip()
    if len(text) != 5 or not text.isascii() or not text.isdigit():
        return None
    return POSTCODE_REGIONS.get(text[:2])


def subdivision_code(country: str | None, value: str | None) -> str | None:
    """A state/subdivision for the holiday calendar of ``country``: German states via
    :func:`state_code`; other countries accept the ``holidays`` package's subdivision codes and
    aliases (``AT``: ``"9"`` or ``"Wien"``), case-insensitively. None if unknown."""
    if not value:
        return None
    country = (country or "DE").upper()
    if country == "DE":
        return state_code(value)
    return _foreign_subdivisions(country).get(value.strip().casefold())


@lru_cache(maxsize=64)
def _foreign_subdivisions(country: str) -> dict[str, str]:
    import holidays  # only needed for non-German contacts

    try:
        cls = type(holidays.country_holidays(country, years=()))
    except NotImplementedError:
        return {}
    index = {code.casefold(): code for code in cls.subdivisions}
    for alias, code in getattr(cls, "subdivisions_aliases", {}).items():
        index.setdefault(alias.casefold(), code)
    return index
