"""The AAPOR rates against published examples of the formulas (a second source besides our own
hand-computed example in tests/unit/services/test_fieldwork.py).

Sources (ropensci/outcomerate, the R implementation of AAPOR's Standard Definitions):

* README.md, section "Example": 12 people surveyed, ``freq <- c(I = 4, P = 2, R = 1, NC = 1,
  O = 1, UH = 1, UO = 1, NE = 1)``, ``outcomerate(freq, e = eligibility_rate(freq))`` printed to
  three decimals (LOC1/LOC2, location rates for establishment surveys, are not computed here).
* tests/testthat/test-rate.R, "Outcome rates produce known expected results": the 16
  dispositions ``x1`` and the exact expected rates for ``e = 0.5`` (``res1``).
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from cati.sampling.aapor import RATE_NAMES, aapor_rates, eligibility_rate

README_FREQ = {"I": 4, "P": 2, "R": 1, "NC": 1, "O": 1, "UH": 1, "UO": 1, "NE": 1}
README_RATES = {
    "RR1": 0.364, "RR2": 0.545, "RR3": 0.370, "RR4": 0.556, "RR5": 0.444, "RR6": 0.667,
    "COOP1": 0.500, "COOP2": 0.750, "COOP3": 0.571, "COOP4": 0.857,
    "REF1": 0.091, "REF2": 0.093, "REF3": 0.111,
    "CON1": 0.727, "CON2": 0.741, "CON3": 0.889,
}

TEST_RATE_X1 = ["I", "P", "I", "NC", "UH", "I", "R", "UO", "I", "O", "P", "I", "R", "O", "P", "NE"]
TEST_RATE_RES1 = {
    "RR1": Fraction(1, 3), "RR2": Fraction(8, 15), "RR3": Fraction(5, 14), "RR4": Fraction(4, 7),
    "RR5": Fraction(5, 13), "RR6": Fraction(8, 13), "COOP1": Fraction(5, 12), "COOP2": Fraction(2, 3),
    "COOP3": Fraction(1, 2), "COOP4": Fraction(4, 5), "REF1": Fraction(2, 15), "REF2": Fraction(1, 7),
    "REF3": Fraction(2, 13), "CON1": Fraction(4, 5), "CON2": Fraction(6, 7), "CON3": Fraction(12, 13),
}


def test_readme_example_with_the_proportional_estimator():
    assert eligibility_rate(README_FREQ) == pytest.approx(0.9)
    rates = aapor_rates(README_FREQ)  # e defaults to eligibility_rate, as in the README call
    assert rates["e"] == pytest.approx(0.9)
    assert {name: round(rates[name], 3) for name in RATE_NAMES} == README_RATES


def test_package_test_suite_example_with_e_one_half():
    counts = Counter(TEST_RATE_X1)
    rates = aapor_rates(counts, e=0.5)
    for name, expected in TEST_RATE_RES1.items():
        assert rates[name] == pytest.approx(float(expected), abs=1e-12), name


def test_a_lone_unknown_case_gives_zeros_and_undefined_rates():
    # test-rate.R, "Low-count outcome cases should return 0's and NaNs": NaN there, None here.
    rates = aapor_rates({"UO": 1}, e=0.3)
    zeros = {"RR1", "RR2", "RR3", "RR4", "REF1", "REF2", "CON1", "CON2"}
    assert {name for name in RATE_NAMES if rates[name] == 0} == zeros
    assert {name for name in RATE_NAMES if rates[name] is None} == set(RATE_NAMES) - zeros
