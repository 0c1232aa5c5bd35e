"""The two specification examples are fixtures: both must check with zero problems."""

from __future__ import annotations

import time

import pytest

from cati.questionnaires import model
from cati.questionnaires.codebook import build_codebook
from cati.questionnaires.compiler import check_file, load_file

from .helpers import EXAMPLES

FILES = sorted(EXAMPLES.glob("*.yaml"))


def test_examples_exist() -> None:
    assert {f.name for f in FILES} >= {"ebike_abo_konzept.yaml", "haustech_nachkauf.yaml"}


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_example_checks_clean(path) -> None:
    assert check_file(path) == []


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_example_compiles_fast_and_deterministically(path) -> None:
    start = time.perf_counter()
    first = load_file(path)
    assert time.perf_counter() - start < 0.5
    assert build_codebook(load_file(path)) == build_codebook(first)


@pytest.fixture(scope="module")
def ebike() -> model.Questionnaire:
    return load_file(EXAMPLES / "ebike_abo_konzept.yaml")


@pytest.fixture(scope="module")
def haustech() -> model.Questionnaire:
    return load_file(EXAMPLES / "haustech_nachkauf.yaml")


class TestEbikeCompiled:
    @pytest.fixture
    def q(self, ebike: model.Questionnaire) -> model.Questionnaire:
        return ebike

    def test_header(self, q: model.Questionnaire) -> None:
        assert (q.id, q.version, q.languages) == ("ebike_abo_konzept", 3, ("de", "en"))
        assert q.dispositions["COMPLETE"] == model.Disposition("COMPLETE", 1, "1.1")
        assert q.dispositions["QUOTA_FULL"].aapor == "4.80"
        assert q.special_defaults["DK"] == 98

    def test_flow_shape(self, q: model.Questionnaire) -> None:
        kinds = [type(node).__name__ for node in q.flow]
        assert kinds == ["Info", "Block", "Block", "Block", "Block", "End"]
        screening = q.flow[1]
        assert isinstance(screening.body[-1], model.QuotaCheckpoint)
        assert screening.body[1].id == "end:1" and screening.body[1].disposition == "SO_AGE"

    def test_loop(self, q: model.Questionnaire) -> None:
        loop = q.flow[2].body[1]
        assert isinstance(loop, model.Loop) and loop.over == "K1" and loop.items is None
        assert [item.code for item in loop.export_items] == [1, 2, 3]

    def test_quota(self, q: model.Questionnaire) -> None:
        (quota,) = q.quotas
        assert [c.id for c in quota.cells] == ["m_18_44", "m_45_74", "w_18_44", "w_45_74", "divers_ka"]
        assert quota.cells[-1].target is None
        assert quota.mode == "hard" and not quota.sample_only

    def test_question_details(self, q: model.Questionnaire) -> None:
        s1 = q.flow[1].body[0]
        assert s1.special == ("REF",) and s1.special_codes["REF"] == 999
        k1 = q.flow[2].body[0]
        assert k1.options[-1].other == model.Other("K1_oth", 80) and k1.options[-1].fixed
        p5 = q.flow[3].body[4]
        assert p5.type == "computed" and p5.text is None and p5.expr.is_random
        p4 = q.flow[3].body[3]
        assert p4.checks[0].severity == "soft" and p4.special_codes["DK"] == 9998

    def test_texts_keep_raw_and_parts(self, q: model.Questionnaire) -> None:
        intro = q.flow[0]
        parts = intro.text.parts["de"]
        assert parts[0] == "Guten Tag, mein Name ist "
        assert parts[1] == model.Fill("interviewer")


class TestHaustechCompiled:
    @pytest.fixture
    def q(self, haustech: model.Questionnaire) -> model.Questionnaire:
        return haustech

    def test_sample(self, q: model.Questionnaire) -> None:
        assert [f.name for f in q.sample] == ["kd_anrede", "kd_name", "kd_tel", "produkt", "kaufdatum", "montage"]
        assert q.sample[1].pii and not q.sample[3].pii

    def test_yes_no_texts_are_words(self, q: model.Questionnaire) -> None:
        montage = q.sample[5]
        assert montage.options[0].text.raw == {"de": "ja", "en": "yes"}

    def test_nps_and_default(self, q: model.Questionnaire) -> None:
        n1 = q.flow[4]
        assert n1.type == "nps" and (n1.min, n1.max) == (0, 10) and [o.code for o in n1.scale_labels] == [0, 10]
        f3 = q.flow[9].body[2]
        assert f3.default.raw == {"de": "{kd_tel}", "en": "{kd_tel}"} and f3.pii
        assert f3.default.parts["de"] == (model.Fill("var", name="kd_tel"),)

    def test_variants(self, q: model.Questionnaire) -> None:
        n2 = q.flow[6]
        assert len(n2.variants) == 2 and n2.variants[0].condition.source == "N1_band == 3"
