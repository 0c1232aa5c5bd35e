"""Outcome table, disposition precedence and AAPOR rates."""

from __future__ import annotations

from fractions import Fraction

import pytest

from cati.sampling import fieldwork_settings
from cati.sampling.aapor import RATE_NAMES, aapor_rates, eligibility_rate
from cati.sampling.dispositions import (
    DEFAULT_OUTCOMES,
    RATE_CLASSES,
    Outcome,
    count_rate_classes,
    current_disposition,
    customise,
    default_table,
    rate_class_for,
    retry_delay,
)

REQUIRED = {
    "no_answer", "busy", "answering_machine_message", "answering_machine_no_message", "fax", "not_in_service",
    "not_eligible", "appointment_soft", "appointment_hard", "soft_refusal", "hard_refusal", "do_not_call",
    "language_barrier", "break_off", "complete", "screened_out", "quota_full", "max_attempts",
}


def test_table_has_every_outcome_once() -> None:
    codes = [o.code for o in DEFAULT_OUTCOMES]
    assert len(codes) == len(set(codes))
    assert set(codes) >= REQUIRED


@pytest.mark.parametrize("outcome", DEFAULT_OUTCOMES, ids=lambda o: o.code)
def test_outcomes_are_consistent(outcome: Outcome) -> None:
    assert outcome.rate_class == rate_class_for(outcome.aapor)
    assert outcome.rate_class in RATE_CLASSES
    assert outcome.label_de and outcome.label_en
    if outcome.retry_key is not None:
        assert outcome.retry_key in {s.key for s in fieldwork_settings.SETTINGS}
    if outcome.final:
        assert retry_delay(outcome, {}) is None
    if outcome.eligible is False:
        assert outcome.rate_class == "NE"
    if outcome.rate_class in {"I", "P", "R", "O"}:
        assert outcome.contacted and outcome.eligible


@pytest.mark.parametrize(
    ("code", "aapor", "rate_class", "final"),
    [
        ("no_answer", "3.13", "UH", False),
        ("busy", "3.12", "UH", False),
        ("answering_machine_message", "3.14", "UH", False),
        ("answering_machine_no_message", "3.14", "UH", False),
        ("fax", "4.20", "NE", True),
        ("not_in_service", "4.30", "NE", True),
        ("not_eligible", "4.70", "NE", True),
        ("appointment_soft", "2.21", "NC", False),
        ("appointment_hard", "2.21", "NC", False),
        ("soft_refusal", "2.11", "R", False),
        ("hard_refusal", "2.11", "R", True),
        ("do_not_call", "2.11", "R", True),
        ("language_barrier", "2.33", "O", True),
        ("break_off", "2.12", "R", False),
        ("partial", "1.2", "P", True),
        ("complete", "1.1", "I", True),
        ("screened_out", "4.70", "NE", True),
        ("quota_full", "4.80", "NE", True),
        ("max_attempts", "3.90", "UO", True),
    ],
)
def test_aapor_codes(code: str, aapor: str, rate_class: str, final: bool) -> None:
    outcome = default_table()[code]
    assert (outcome.aapor, outcome.rate_class, outcome.final) == (aapor, rate_class, final)


def test_flags() -> None:
    table = default_table()
    assert table["do_not_call"].adds_to_dnc
    assert not table["hard_refusal"].adds_to_dnc
    assert table["fax"].try_other_number and table["not_in_service"].try_other_number
    assert table["complete"].source == "engine"
    assert table["quota_full"].source == table["screened_out"].source == "questionnaire"
    assert table["soft_refusal"].note_required


@pytest.mark.parametrize(
    ("outcomes", "code", "final"),
    [
        ([], None, None),
        (["no_answer"], "no_answer", False),
        (["busy", "busy"], "busy", False),  # 3.12 "always busy"
        (["busy", "no_answer", "busy"], "no_answer", False),
        (["no_answer", "answering_machine_message", "no_answer"], "answering_machine_message", False),
        (["soft_refusal", "no_answer", "no_answer"], "soft_refusal", False),  # contact beats later no-answer
        (["appointment_soft", "answering_machine_no_message"], "appointment_soft", False),
        (["soft_refusal", "appointment_hard"], "appointment_hard", False),  # same tier: the later one
        (["appointment_hard", "soft_refusal"], "soft_refusal", False),
        (["no_answer", "break_off", "busy"], "break_off", False),
        (["no_answer", "fax"], "fax", True),
        (["soft_refusal", "hard_refusal"], "hard_refusal", True),
        (["no_answer", "complete", "do_not_call"], "complete", True),  # the interview stands
        (["hard_refusal", "complete"], "complete", True),  # refusal conversion
        (["soft_refusal", "no_answer", "max_attempts"], "soft_refusal", True),  # closed: most informative
        (["no_answer", "busy", "max_attempts"], "no_answer", True),
        (["max_attempts"], "max_attempts", True),
    ],
)
def test_current_disposition_precedence(outcomes: list[str], code: str | None, final: bool | None) -> None:
    disposition = current_disposition(outcomes)
    if code is None:
        assert disposition is None
        return
    assert disposition is not None
    assert (disposition.code, disposition.final) == (code, final)
    assert disposition.aapor == default_table()[code].aapor


def test_unknown_outcome_is_an_error() -> None:
    with pytest.raises(KeyError):
        current_disposition(["nonsense"])


def test_customise_per_study() -> None:
    table = customise({"answering_machine_message": {"aapor": "2.221"}, "language_barrier": {"final": False}})
    assert table["answering_machine_message"].rate_class == "NC"
    assert not table["language_barrier"].final
    assert default_table()["answering_machine_message"].aapor == "3.14"  # the default is untouched
    new = customise({"callback_other_language": {
        "label_de": "Rückruf Sprache", "label_en": "Callback language", "aapor": "2.332",
        "rate_class": "O", "final": False, "default_delay": 60,
    }})
    assert new["callback_other_language"].default_delay == 60
    with pytest.raises(ValueError, match="rate_class"):
        customise({"busy": {"rate_class": "NE"}})
    with pytest.raises(ValueError, match="not an AAPOR"):
        customise({"busy": {"aapor": "9.9"}})
    with pytest.raises(ValueError, match="unknown field"):
        customise({"busy": {"colour": "red"}})


def test_retry_delay_uses_study_setting_then_default() -> None:
    table = default_table()
    assert retry_delay(table["no_answer"], {"retry.no_answer": 30}) == 30
    assert retry_delay(table["no_answer"], {}) == 120
    assert retry_delay(table["break_off"], {}) == 60
    assert retry_delay(table["appointment_hard"], {}) is None
    assert retry_delay(table["complete"], {"retry.no_answer": 30}) is None


def test_count_rate_classes() -> None:
    table = default_table()
    counts = count_rate_classes(
        [current_disposition(["complete"]), current_disposition(["no_answer"]), None, table["fax"]]
    )
    assert counts == {"I": 1, "P": 0, "R": 0, "NC": 0, "O": 0, "UH": 2, "UO": 0, "NE": 1}


# --------------------------------------------------------------------------- AAPOR rates

# Every class present; computed by hand with fractions.
COUNTS = {"I": 40, "P": 10, "R": 20, "NC": 15, "O": 5, "UH": 30, "UO": 10, "NE": 20}
ELR = Fraction(90, 110)  # (40+10+20+15+5) / (90+20)
WITH_E = 90 + ELR * 40  # (I+P)+(R+NC+O) + e(UH+UO)
EXPECTED = {
    "RR1": Fraction(40, 130),
    "RR2": Fraction(50, 130),
    "RR3": 40 / WITH_E,
    "RR4": 50 / WITH_E,
    "RR5": Fraction(40, 90),
    "RR6": Fraction(50, 90),
    "COOP1": Fraction(40, 75),
    "COOP2": Fraction(50, 75),
    "COOP3": Fraction(40, 70),
    "COOP4": Fraction(50, 70),
    "REF1": Fraction(20, 130),
    "REF2": 20 / WITH_E,
    "REF3": Fraction(20, 90),
    "CON1": Fraction(75, 130),
    "CON2": 75 / WITH_E,
    "CON3": Fraction(75, 90),
}


def test_rates_against_hand_computed_example() -> None:
    rates = aapor_rates(COUNTS)
    assert set(RATE_NAMES) <= set(rates)
    assert rates["e"] == pytest.approx(float(ELR))
    assert eligibility_rate(COUNTS) == pytest.approx(float(ELR))
    for name, value in EXPECTED.items():
        assert rates[name] == pytest.approx(float(value), rel=1e-12), name
    assert rates["RR3"] == pytest.approx(440 / 1350)


def test_explicit_e() -> None:
    rates = aapor_rates(COUNTS, e=0.5)
    assert rates["e"] == 0.5
    assert rates["RR3"] == pytest.approx(40 / 110)
    zero = aapor_rates(COUNTS, e=0)
    assert zero["RR3"] == pytest.approx(zero["RR5"])
    assert zero["RR4"] == pytest.approx(zero["RR6"])
    one = aapor_rates(COUNTS, e=1)
    assert one["RR3"] == pytest.approx(one["RR1"])


def test_zero_denominators_give_none() -> None:
    rates = aapor_rates({})
    assert all(value is None for value in rates.values())
    only_unknown = aapor_rates({"UH": 10})
    assert only_unknown["RR1"] == 0 and only_unknown["e"] is None and only_unknown["RR3"] is None
    no_unknown = aapor_rates({"I": 5, "R": 5})
    assert no_unknown["e"] == 1 and no_unknown["RR3"] == 0.5


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown rate class"):
        aapor_rates({"X": 1})
    with pytest.raises(ValueError, match="between 0 and 1"):
        aapor_rates(COUNTS, e=1.5)
    with pytest.raises(ValueError, match="negative"):
        aapor_rates({"I": -1})
