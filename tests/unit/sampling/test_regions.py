"""German states: codes, names, spellings, and the cautious postcode rule."""

from __future__ import annotations

import holidays
import pytest

from cati.sampling.regions import (
    POSTCODE_REGIONS,
    STATE_CODES,
    STATES,
    state_code,
    state_from_postcode,
    state_name,
    subdivision_code,
)


def test_codes_match_the_holidays_package() -> None:
    assert set(STATE_CODES) == set(holidays.Germany.subdivisions) - {"Augsburg"}
    assert len(STATE_CODES) == 16


@pytest.mark.parametrize("code", sorted(STATES))
def test_every_code_and_name_resolves(code: str) -> None:
    german, english = STATES[code]
    for value in (code, code.lower(), f"DE-{code}", german, english, german.upper(), f"  {german} "):
        assert state_code(value) == code, value
    assert state_name(code) == german
    assert state_name(code, "en") == english


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("Nordrhein-Westfalen", "NW"),
        ("nordrhein westfalen", "NW"),
        ("NRW", "NW"),
        ("North Rhine-Westphalia", "NW"),
        ("Bayern", "BY"),
        ("Bavaria", "BY"),
        ("Freistaat Bayern", "BY"),
        ("Baden-Württemberg", "BW"),
        ("Baden-Wuerttemberg", "BW"),
        ("Baden-Wurttemberg", "BW"),
        ("BaWü", "BW"),
        ("Thüringen", "TH"),
        ("Thueringen", "TH"),
        ("Thuringia", "TH"),
        ("Sachsen", "SN"),
        ("Sachsen-Anhalt", "ST"),
        ("Saxony-Anhalt", "ST"),
        ("Mecklenburg-Vorpommern", "MV"),
        ("Mecklenburg-Western Pomerania", "MV"),
        ("Hesse", "HE"),
        ("Lower Saxony", "NI"),
        ("Rhineland-Palatinate", "RP"),
        ("RLP", "RP"),
    ],
)
def test_spellings(value: str, code: str) -> None:
    assert state_code(value) == code


@pytest.mark.parametrize("value", ["", None, "XX", "Bavaria-West", "Germany", "Sachsen Anhalt Nord", "Wien"])
def test_unknown_states_are_none(value: str | None) -> None:
    assert state_code(value) is None


@pytest.mark.parametrize(
    ("postcode", "state"),
    [
        ("10115", "BE"),  # Berlin-Mitte
        ("20095", "HH"),
        ("30159", "NI"),
        ("40210", "NW"),
        ("50667", "NW"),
        ("60311", "HE"),
        ("70173", "BW"),
        ("80331", "BY"),
        ("81929", "BY"),
        ("90402", "BY"),
        # regions that cross state borders are never derived
        ("01067", None),  # 01 reaches into Brandenburg (01968 Senftenberg)
        ("12529", None),  # Schönefeld, Brandenburg, in Berlin's 12
        ("55246", None),  # Mainz-Kostheim belongs to Wiesbaden, Hesse
        ("28790", None),  # Schwanewede, Lower Saxony, in Bremen's 28
        ("63739", None),  # Aschaffenburg, Bavaria, in Hesse's 63
        ("76829", None),  # Landau, Rhineland-Palatinate, in 76
        # malformed
        ("1011", None),
        ("101155", None),
        ("1O115", None),
        ("", None),
        (None, None),
    ],
)
def test_postcode(postcode: str | None, state: str | None) -> None:
    assert state_from_postcode(postcode) == state


def test_postcode_table_uses_valid_codes() -> None:
    assert set(POSTCODE_REGIONS.values()) <= set(STATE_CODES)
    assert all(len(prefix) == 2 and prefix.isdigit() for prefix in POSTCODE_REGIONS)


@pytest.mark.parametrize(
    ("country", "value", "code"),
    [("AT", "Wien", "9"), ("AT", "9", "9"), ("CH", "zh", "ZH"), ("US", "New York", "NY"), ("AT", "NW", None),
     ("DE", "Bayern", "BY"), (None, "NW", "NW"), ("XX", "foo", None)],
)
def test_subdivision_code(country: str | None, value: str, code: str | None) -> None:
    assert subdivision_code(country, value) == code
