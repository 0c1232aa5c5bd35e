"""Telephone numbers: normalise to E.164 and derive country, number type and time zone.

Everything is delegated to ``phonenumbers`` (libphonenumber's metadata), with two speed-ups that
keep the results identical to the library's:

* a fast path for the everyday shapes (``030 1234567``, ``0171/2345678``, ``+49 (0)89 123456``,
  ``0049 ...``) that skips the library's general-purpose parser; its result is used only when it
  is a *valid* number, otherwise the full parser runs and supplies the reason. The tests check the
  fast path against ``phonenumbers.parse`` on generated inputs.
* per-country caches for metadata and time zones, and an LRU cache on whole numbers (repeated
  numbers are common when a file lists a switchboard for many contacts).

Time zones come from ``phonenumbers.timezone``. A number that maps to several zones (US toll-free,
Russian mobiles, ...) gets the first zone in the library's (alphabetical) list so that the choice
is deterministic; :attr:`Phone.timezone_note` says so and the importer reports it, because the
calling window is checked in that zone. A ``timezone`` column overrides it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import phonenumbers
from phonenumbers import (
    NumberParseException,
    PhoneMetadata,
    PhoneNumber,
    PhoneNumberFormat,
    PhoneNumberType,
    ValidationResult,
)
from phonenumbers.timezone import time_zones_for_geographical_number

__all__ = ["Phone", "PhoneError", "check_phone", "normalise_phone"]

_UNKNOWN_TZ = "Etc/Unknown"
_TYPE_NAMES = {
    PhoneNumberType.FIXED_LINE: "fixed_line",
    PhoneNumberType.MOBILE: "mobile",
    PhoneNumberType.FIXED_LINE_OR_MOBILE: "fixed_line_or_mobile",
    PhoneNumberType.TOLL_FREE: "toll_free",
    PhoneNumberType.PREMIUM_RATE: "premium_rate",
    PhoneNumberType.SHARED_COST: "shared_cost",
    PhoneNumberType.VOIP: "voip",
    PhoneNumberType.PERSONAL_NUMBER: "personal_number",
    PhoneNumberType.PAGER: "pager",
    PhoneNumberType.UAN: "uan",
    PhoneNumberType.VOICEMAIL: "voicemail",
}
_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
    NumberParseException.NOT_A_NUMBER: "not a number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "too short",
    NumberParseException.TOO_LONG: "too long",
}
# Characters people put between digits; "(0)" is handled separately (it is a trunk prefix).
_SEPARATORS = str.maketrans("", "", " \t\u00a0\u202f-–/.()")
_PLAIN_DIGITS = re.compile(r"\d+")


@dataclass(frozen=True, slots=True)
class Phone:
    """A valid number. ``region`` is the ISO 3166-1 code (None for non-geographic numbers such as
    +800); ``timezone`` is None when the library knows no zone for the number."""

    e164: str
    region: str | None
    country_code: int
    number_type: str
    timezone: str | None
    timezones: tuple[str, ...]
    extension: str | None = None

    @property
    def timezone_ambiguous(self) -> bool:
        return len(self.timezones) > 1

    @property
    def timezone_note(self) -> str | None:
        if not self.timezone_ambiguous:
            return None
        shown = ", ".join(self.timezones[:5]) + (", ..." if len(self.timezones) > 5 else "")
        return (
            f"{self.e164} lies in {len(self.timezones)} time zones ({shown}); using {self.timezone}. "
            "Give a timezone column to choose another"
        )


class PhoneError(ValueError):
    """An unusable number; ``reason`` is a short English phrase for reports."""

    def __init__(self, raw: str, reason: str) -> None:
        super().__init__(f"{raw!r}: {reason}")
        self.raw = raw
        self.reason = reason


@dataclass(frozen=True, slots=True)
class _RegionInfo:
    country_code: int
    idd: str | None  # international dialling prefix when it is a plain digit string ("00")
    national_prefix: str | None  # trunk prefix when plain and safe for the fast path ("0")


@lru_cache(maxsize=512)
def _region_info(region: str) -> _RegionInfo | None:
    meta = PhoneMetadata.metadata_for_region(region.upper())
    if meta is None:
        return None
    idd = meta.international_prefix if meta.international_prefix and _PLAIN_DIGITS.fullmatch(
        meta.international_prefix
    ) else None
    prefix = meta.national_prefix_for_parsing or meta.national_prefix
    plain = (
        prefix
        and _PLAIN_DIGITS.fullmatch(prefix)
        and meta.national_prefix_transform_rule is None
        and not prefix.startswith(str(meta.country_code)[0])
    )
    return _RegionInfo(meta.country_code, idd, prefix if plain else None)


@lru_cache(maxsize=512)
def _parse_prefix(country_code: int) -> str | None:
    """Plain trunk prefix of the main region of a country code, if the fast path may use it."""
    region = phonenumbers.region_code_for_country_code(country_code)
    meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, region)
    if meta is None or meta.national_prefix_transform_rule is not None:
        return ""  # "" = the fast path must not handle this country code
    prefix = meta.national_prefix_for_parsing or meta.national_prefix
    if prefix is None:
        return None
    return prefix if _PLAIN_DIGITS.fullmatch(prefix) else ""


@lru_cache(maxsize=512)
def _country_zones(country_code: int) -> tuple[str, ...]:
    zones = phonenumbers.timezone._country_level_time_zones_for_number(PhoneNumber(country_code=country_code))
    return () if tuple(zones) == (_UNKNOWN_TZ,) else tuple(zones)


def _fast_parse(raw: str, info: _RegionInfo) -> tuple[int, str] | None:
    """The common shapes only -> (country code, national significant number); None means "let
    phonenumbers.parse decide"."""
    text = raw.strip()
    international = text.startswith("+") or (info.idd is not None and text.startswith(info.idd))
    if international and "(0)" in text:
        text = text.replace("(0)", "", 1)
    digits = text.translate(_SEPARATORS)
    if digits.startswith("+"):
        digits = digits[1:]
    elif info.idd is not None and digits.startswith(info.idd):
        digits = digits[len(info.idd) :]
        if digits.startswith("0"):
            return None  # "000..." is not an international prefix for the library either
    elif info.national_prefix is not None and digits.startswith(info.national_prefix):
        national = digits[len(info.national_prefix) :]
        if not national.isascii() or not national.isdigit() or national.startswith("0"):
            return None
        if not 2 <= len(national) <= 17:
            return None
        return info.country_code, national
    else:
        return None
    if not digits.isascii() or not digits.isdigit() or digits.startswith("0"):
        return None
    for size in (1, 2, 3):
        code = int(digits[:size])
        if code in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
            national = digits[size:]
            break
    else:
        return None
    prefix = _parse_prefix(code)
    if prefix == "" or (prefix and national.startswith(prefix)) or national.startswith("0"):
        return None
    if not 2 <= len(national) <= 17:
        return None
    return code, national


_TYPE_ORDER = (
    ("premium_rate", PhoneNumberType.PREMIUM_RATE),
    ("toll_free", PhoneNumberType.TOLL_FREE),
    ("shared_cost", PhoneNumberType.SHARED_COST),
    ("voip", PhoneNumberType.VOIP),
    ("personal_number", PhoneNumberType.PERSONAL_NUMBER),
    ("pager", PhoneNumberType.PAGER),
    ("uan", PhoneNumberType.UAN),
    ("voicemail", PhoneNumberType.VOICEMAIL),
)
_Match = Callable[[str], Any]


def _admits(desc: Any, length: int) -> _Match | None:
    """The compiled full-match of ``desc`` if a number of ``length`` digits can match it
    (the library's ``_is_number_matching_desc``: possible lengths first, then the pattern)."""
    if desc is None or not desc.national_number_pattern:
        return None
    if desc.possible_length and length not in desc.possible_length:
        return None
    return _compiled(desc.national_number_pattern)


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> _Match:
    return re.compile(pattern).fullmatch


@lru_cache(maxsize=512)
def _classifier(country_code: int) -> Callable[[str], int] | None:
    """``phonenumbers.number_type`` for a national number of a single-region country code, with
    the metadata's patterns compiled once and pre-selected by length (the library's
    ``_number_type_helper``: same order and rules; the tests compare both). None for shared
    codes such as +1."""
    regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(country_code)
    if not regions or len(regions) != 1:
        return None
    meta = PhoneMetadata.metadata_for_region_or_calling_code(country_code, regions[0])
    if meta is None:
        return None
    same = meta.same_mobile_and_fixed_line_pattern
    by_length: dict[int, tuple[_Match, list[tuple[_Match, int]], _Match | None, _Match | None]] = {}
    for length in range(1, 18):
        general = _admits(meta.general_desc, length)
        if general is None:
            continue
        special = [(m, ntype) for name, ntype in _TYPE_ORDER if (m := _admits(getattr(meta, name), length))]
        by_length[length] = (general, special, _admits(meta.fixed_line, length), _admits(meta.mobile, length))

    def classify(national: str) -> int:
        entry = by_length.get(len(national))
        if entry is None:
            return PhoneNumberType.UNKNOWN
        general, special, fixed, mobile = entry
        if general(national) is None:
            return PhoneNumberType.UNKNOWN
        for match, ntype in special:
            if match(national) is not None:
                return ntype
        if fixed is not None and fixed(national) is not None:
            if same or (mobile is not None and mobile(national) is not None):
                return PhoneNumberType.FIXED_LINE_OR_MOBILE
            return PhoneNumberType.FIXED_LINE
        if not same and mobile is not None and mobile(national) is not None:
            return PhoneNumberType.MOBILE
        return PhoneNumberType.UNKNOWN

    return classify


def _region_name(number: PhoneNumber) -> str:
    region = phonenumbers.region_code_for_number(number)
    if region in (None, "ZZ"):
        region = phonenumbers.region_code_for_country_code(number.country_code)
    return "non-geographic numbers" if region == "001" else f"region {region}"


def _invalid_reason(number: PhoneNumber) -> str:
    if number.country_code not in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
        return f"unknown country code +{number.country_code}"
    where = _region_name(number)
    region = phonenumbers.region_code_for_country_code(number.country_code)
    meta = PhoneMetadata.metadata_for_region_or_calling_code(number.country_code, region)
    lengths = meta.general_desc.possible_length if meta is not None else ()
    size = len(phonenumbers.national_significant_number(number))
    if lengths and size < min(lengths):
        return f"too short for {where}"
    if lengths and size > max(lengths):
        return f"too long for {where}"
    possible = phonenumbers.is_possible_number_with_reason(number)
    if possible == ValidationResult.INVALID_LENGTH:
        return f"invalid length for {where}"
    if possible == ValidationResult.IS_POSSIBLE_LOCAL_ONLY:
        return f"local number without area code ({where})"
    return f"invalid for {where}"


def _build(number: PhoneNumber, ntype: int) -> Phone:
    region = phonenumbers.region_code_for_number(number)
    if region == "001":
        region = None
    zones = _country_zones(number.country_code)
    if len(zones) != 1 and phonenumbers.is_number_type_geographical(ntype, number.country_code):
        found = tuple(time_zones_for_geographical_number(number))
        zones = () if found == (_UNKNOWN_TZ,) else found
    return Phone(
        e164=phonenumbers.format_number(number, PhoneNumberFormat.E164),
        region=region,
        country_code=number.country_code,
        number_type=_TYPE_NAMES.get(ntype, "unknown"),
        timezone=zones[0] if zones else None,
        timezones=zones,
        extension=number.extension or None,
    )


@lru_cache(maxsize=65536)
def normalise_phone(raw: str, default_region: str = "DE") -> Phone:
    """``raw`` in any common national or international notation -> :class:`Phone`.

    Raises :class:`PhoneError` with a short reason ("not a number", "too short",
    "invalid for region DE", ...).
    """
    if raw is None or not str(raw).strip():
        raise PhoneError("" if raw is None else str(raw), "no number")
    raw = str(raw)
    info = _region_info(default_region) if default_region else None
    if info is not None:
        quick = _fast_parse(raw, info)
        if quick is not None:
            code, national = quick
            classify = _classifier(code)
            number = PhoneNumber(country_code=code, national_number=int(national))
            ntype = classify(national) if classify is not None else phonenumbers.number_type(number)
            if ntype != PhoneNumberType.UNKNOWN:
                return _build(number, ntype)
    if _letters_in_number(raw):
        raise PhoneError(raw, "letters in the number")
    try:
        number = phonenumbers.parse(raw, default_region or None)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "not a number")
        if exc.error_type == NumberParseException.INVALID_COUNTRY_CODE and not raw.strip().startswith("+"):
            reason = "no country code (write it as +CC...)" if not default_region else "unknown country code"
        raise PhoneError(raw, reason) from None
    ntype = phonenumbers.number_type(number)
    if ntype == PhoneNumberType.UNKNOWN:
        raise PhoneError(raw, _invalid_reason(number))
    return _build(number, ntype)


_FIRST_DIGIT = re.compile(r"[+0-9]")
_LETTER = re.compile(r"[^\W\d_]")
_EXTENSION = re.compile(r"(?i)(?:ext|x)\.?\s*\d+\s*$")  # as phonenumbers reads extensions


def _letters_in_number(raw: str) -> bool:
    """Letters after the number began (``030 abc``, ``0800-FLOWERS``): phonenumbers would read them
    as a keypad's digits, and a sample's ``030 abc`` is a typing error, not a number to call. Text
    before the number (``Tel.: 030 ...``) and an extension phonenumbers keeps apart (``ext. 12``)
    are fine; ``dw 12`` is not: phonenumbers would append the 12 to the number."""
    start = _FIRST_DIGIT.search(raw)
    if start is None:
        return False
    rest = _EXTENSION.sub("", raw[start.start():])
    return _LETTER.search(rest) is not None


def check_phone(raw: str, default_region: str = "DE") -> tuple[Phone | None, str | None]:
    """Like :func:`normalise_phone` but returns ``(phone, None)`` or ``(None, reason)``."""
    try:
        return normalise_phone(raw, default_region), None
    except PhoneError as exc:
        return None, exc.reason
