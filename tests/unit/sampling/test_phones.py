"""Phone normalisation: formats, reasons, time zones, and the fast path against phonenumbers."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import PhoneNumber

from cati.sampling.phones import PhoneError, _classifier, check_phone, normalise_phone

VALID = [
    # raw, default region, E.164, type, region, time zone
    ("030 1234567", "DE", "+49301234567", "fixed_line", "DE", "Europe/Berlin"),
    ("(030) 123 45 67", "DE", "+49301234567", "fixed_line", "DE", "Europe/Berlin"),
    ("030-1234567", "DE", "+49301234567", "fixed_line", "DE", "Europe/Berlin"),
    ("+49 (0)89 123456", "DE", "+4989123456", "fixed_line", "DE", "Europe/Berlin"),
    ("+49 89 123456", "DE", "+4989123456", "fixed_line", "DE", "Europe/Berlin"),
    ("0049 89 123456", "DE", "+4989123456", "fixed_line", "DE", "Europe/Berlin"),
    ("0171/2345678", "DE", "+491712345678", "mobile", "DE", "Europe/Berlin"),
    ("+491712345678", "DE", "+491712345678", "mobile", "DE", "Europe/Berlin"),
    ("0800 1234567", "DE", "+498001234567", "toll_free", "DE", "Europe/Berlin"),
    ("+43 1 5123456", "DE", "+4315123456", "fixed_line", "AT", "Europe/Vienna"),
    ("0043 664 1234567", "DE", "+436641234567", "mobile", "AT", "Europe/Vienna"),
    ("01 5123456", "AT", "+4315123456", "fixed_line", "AT", "Europe/Vienna"),
    ("+41 44 668 18 00", "DE", "+41446681800", "fixed_line", "CH", "Europe/Zurich"),
    ("+1 212 555 1234", "DE", "+12125551234", "fixed_line_or_mobile", "US", "America/New_York"),
    ("(212) 555-1234", "US", "+12125551234", "fixed_line_or_mobile", "US", "America/New_York"),
]


@pytest.mark.parametrize(("raw", "region", "e164", "ntype", "country", "tz"), VALID)
def test_valid_numbers(raw: str, region: str, e164: str, ntype: str, country: str, tz: str) -> None:
    phone = normalise_phone(raw, region)
    assert (phone.e164, phone.number_type, phone.region, phone.timezone) == (e164, ntype, country, tz)
    assert not phone.timezone_ambiguous
    assert phone.timezone_note is None


INVALID = [
    ("", "no number"),
    ("   ", "no number"),
    ("abc", "not a number"),
    ("030", "too short for region DE"),
    ("12", "too short for region DE"),
    ("0301", "invalid for region DE"),
    ("+999 1234567", "unknown country code"),
    ("+49 30 1234567890123456", "too long"),
    ("+1 212 555 12345", "too long for region US"),
    ("+43 1", "too short"),
    ("030 abc", "letters in the number"),  # phonenumbers reads a keypad's letters: +4930222
    ("0800-FLOWERS", "letters in the number"),
    ("030 1234567 ab", "letters in the number"),
]


@pytest.mark.parametrize(("raw", "reason"), INVALID)
def test_invalid_numbers_say_why(raw: str, reason: str) -> None:
    with pytest.raises(PhoneError) as info:
        normalise_phone(raw, "DE")
    assert info.value.reason == reason
    assert check_phone(raw) == (None, reason)


def test_number_with_several_time_zones_is_deterministic_and_says_so() -> None:
    phone = normalise_phone("+1 800 555 1234", "DE")
    assert phone.number_type == "toll_free"
    assert phone.timezone_ambiguous
    assert phone.timezone == phone.timezones[0] == sorted(phone.timezones)[0]
    assert phone.timezone_note is not None
    assert f"using {phone.timezone}" in phone.timezone_note
    assert "timezone column" in phone.timezone_note


def test_non_geographic_number_has_no_region() -> None:
    phone = normalise_phone("+800 1234 5678", "DE")
    assert phone.region is None
    assert phone.e164 == "+80012345678"


def test_extension_is_kept_apart() -> None:
    phone = normalise_phone("+49 30 1234567 ext. 12", "DE")
    assert (phone.e164, phone.extension) == ("+49301234567", "12")


def test_text_before_the_number_is_not_part_of_it() -> None:
    assert normalise_phone("Tel.: 030 1234567", "DE").e164 == "+49301234567"
    assert normalise_phone("030 1234567 x 12", "DE").extension == "12"
    assert check_phone("030 1234567 dw 12") == (None, "letters in the number")  # not +4930123456712


def test_results_are_cached() -> None:
    assert normalise_phone("030 7654321") is normalise_phone("030 7654321")


# --------------------------------------------------------------------------- the fast path
PREFIXES = ["0", "+49", "+49 (0)", "0049", "+43", "0043", "+41", "+1", "+44", "+39", "+7", "00", "+", "", "0 "]
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=14)
SEPARATORS = st.sampled_from(["", " ", "-", "/", ".", " / "])


def _reference(raw: str, region: str) -> tuple[str, str] | None:
    """What phonenumbers alone says: (E.164, type name) or None if invalid."""
    try:
        number = phonenumbers.parse(raw, region)
    except phonenumbers.NumberParseException:
        return None
    ntype = phonenumbers.number_type(number)
    if ntype == phonenumbers.PhoneNumberType.UNKNOWN:
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164), ntype


@settings(max_examples=400, deadline=None)
@given(
    prefix=st.sampled_from(PREFIXES),
    parts=st.lists(DIGITS, min_size=1, max_size=3),
    separator=SEPARATORS,
    region=st.sampled_from(["DE", "AT", "CH", "US"]),
)
def test_fast_path_agrees_with_phonenumbers(prefix: str, parts: list[str], separator: str, region: str) -> None:
    raw = prefix + separator.join(parts)
    expected = _reference(raw, region)
    got, reason = check_phone(raw, region)
    if expected is None:
        assert got is None and reason
    else:
        assert got is not None, reason
        assert got.e164 == expected[0]


@settings(max_examples=400, deadline=None)
@given(
    code=st.sampled_from([49, 43, 41, 33, 44, 39, 31, 48, 7]),
    national=st.text(alphabet="0123456789", min_size=2, max_size=15).filter(lambda s: s[0] != "0"),
)
def test_classifier_agrees_with_number_type(code: int, national: str) -> None:
    classify = _classifier(code)
    if classify is None:  # shared country codes use the library directly
        return
    number = PhoneNumber(country_code=code, national_number=int(national))
    assert classify(national) == phonenumbers.number_type(number)


def test_shared_country_code_has_no_classifier() -> None:
    assert _classifier(1) is None
