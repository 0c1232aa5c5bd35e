"""Selecting interviews for exports: groups (complete, partial, screened) plus test data, a period,
attempts from the case, the version union, personal data only in the contact export."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from cati.exports import write
from cati.models import Case, Interview
from cati.questionnaires.engine import Ended
from cati.services import exports
from cati.services.exports import Selection, SelectionError
from cati.services.interviews import engine_for
from cati.services.sample_import import import_sample
from cati.services.studies import create_study, publish_version

NOW = dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)

QUESTIONNAIRE = """\
format: cati/1
id: export_test
version: 1
title: {de: "Exporttest"}
languages: [de]
dispositions:
  COMPLETE: 1
  PARTIAL: {code: 5, aapor: "1.2"}
  SCREENED: {code: 21, aapor: "4.70"}
  REFUSED: {code: 12, aapor: "2.112"}
sample:
  - {name: kd_tel, type: text, pii: true}
  - name: region
    type: single
    options: [{code: 1, de: Nord}, {code: 2, de: Süd}]
flow:
  - id: S1
    type: single
    label: {de: "S1 Teilnahme"}
    text: {de: "Teilnahme?"}
    options: [{code: 1, de: ja}, {code: 2, de: nein}, {code: 3, de: "nicht Zielgruppe"}]
  - {end: REFUSED, if: "S1 == 2", text: {de: "Danke."}}
  - {end: SCREENED, if: "S1 == 3", text: {de: "Danke."}}
  - id: K1
    type: multi
    label: {de: "K1 Marken"}
    text: {de: "Welche Marken?"}
    special: [DK]
    options: [{code: 1, de: Alpha}, {code: 2, de: Beta}, {code: 3, de: Gamma}]
  - id: N1
    type: nps
    label: {de: "N1 Empfehlung"}
    text: {de: "Empfehlen?"}
    special: [DK]
    low: {de: "gar nicht"}
    high: {de: "sehr gern"}
  - id: C1
    type: grid
    label: {de: "C1 Zufriedenheit"}
    text: {de: "Wie zufrieden?"}
    options: [{code: 1, de: gut}, {code: 2, de: schlecht}]
    rows: [{code: 1, de: Preis}, {code: 2, de: Service}]
  - id: P1
    type: single
    label: {de: "P1 Weiter"}
    text: {de: "Weiter?"}
    options: [{code: 1, de: ja}, {code: 2, de: "später"}]
  - {end: PARTIAL, if: "P1 == 2", text: {de: "Danke."}}
  - id: T1
    type: text
    pii: true
    label: {de: "T1 Telefon"}
    text: {de: "Telefon für Rückfragen?"}
"""

COMPLETE = {"S1": 1, "K1": [1, 3], "N1": 9, "C1": {1: 1, 2: 2}, "P1": 1, "T1": "030 999"}
PARTIAL_END = {"S1": 1, "K1": [2], "N1": 3, "C1": {1: 2, 2: 2}, "P1": 2}
SCREENED = {"S1": 3}
REFUSED = {"S1": 2}
BROKEN = {"S1": 1, "K1": [1]}  # hung up at N1


def make_study(session: Any, source: str = QUESTIONNAIRE) -> Any:
    return create_study(session, source=source, source_name="export_test.yaml")


def add_interview(session: Any, study: Any, answers: dict[str, Any], *, test: bool = False, case: Any = None,
                  at: dt.datetime = NOW, version: Any = None, sample: dict[str, Any] | None = None) -> Interview:
    """An interview answered with ``answers`` in route order; it ends if the route ends, else it
    is stored as broken off (what the interview service stores, without calls)."""
    version = version or study.current_version
    engine = engine_for(version)
    state = engine.start(1, sample if sample is not None else {"kd_tel": "0301234", "region": 1}, now=at)
    for value in answers.values():
        screen = engine.screen(state)
        assert not isinstance(screen, Ended)
        result = engine.answer(state, screen.key, value, now=at, confirm_soft=range(5))
        assert result.accepted, (screen.key, result.errors)
    interview = Interview(study_id=study.id, case_id=case.id if case else None, version_id=version.id,
                          resp_id=uuid.uuid4().hex, lang=state.lang, started_at=at, updated_at=at,
                          state=state.to_dict(), is_test=test)
    screen = engine.screen(state)
    if isinstance(screen, Ended):
        disposition = engine.questionnaire.dispositions[screen.disposition]
        interview.status = "complete" if screen.status == "complete" else "ended"
        interview.disposition, interview.disposition_code = disposition.name, disposition.code
        interview.ended_at = at
        interview.data = engine.export_row(state, {"resp_id": interview.resp_id, "interviewer_id": None})
    else:
        interview.status = "broken_off"
    session.add(interview)
    session.flush()
    return interview


@pytest.fixture
def study(dbsession):
    return make_study(dbsession)


@pytest.fixture
def mix(dbsession, study):
    """One interview of every kind (real), plus a test complete and a test screen-out."""
    made = {
        "complete": add_interview(dbsession, study, COMPLETE),
        "partial_end": add_interview(dbsession, study, PARTIAL_END),
        "screened": add_interview(dbsession, study, SCREENED),
        "refused": add_interview(dbsession, study, REFUSED),
        "broken": add_interview(dbsession, study, BROKEN),
        "broken_empty": add_interview(dbsession, study, {}),
        "active": add_interview(dbsession, study, {"S1": 1}),
        "invalidated": add_interview(dbsession, study, COMPLETE),
        "test_complete": add_interview(dbsession, study, COMPLETE, test=True),
        "test_screened": add_interview(dbsession, study, SCREENED, test=True),
    }
    made["active"].status = "active"
    made["invalidated"].status = "invalidated"
    dbsession.flush()
    return made


def resp_ids(dbsession, study, selection, **kw):
    return [row["resp_id"] for row in exports.iter_rows(dbsession, study, selection, **kw)]


class TestSelection:
    def test_include_parsing(self):
        assert Selection.parse_include(None) == Selection(("complete",), False)
        assert Selection.parse_include("test") == Selection(("complete",), True)
        selection = Selection.parse_include("screened, complete,TEST")
        assert selection.groups == ("complete", "screened") and selection.test

    @pytest.mark.parametrize("kwargs", [{"groups": ("nope",)}, {"groups": ()}, {"tz": "Mars/Base"},
                                        {"since": dt.date(2026, 3, 2), "until": dt.date(2026, 3, 1)}])
    def test_wrong_selections_are_refused(self, kwargs):
        with pytest.raises(SelectionError):
            Selection(**kwargs)

    def test_json_round_trip_and_bounds(self):
        selection = Selection(("partial",), True, dt.date(2026, 3, 1), dt.date(2026, 3, 31))
        assert Selection.from_json(selection.to_json()) == selection
        start, end = selection.bounds()
        assert start == dt.datetime(2026, 2, 28, 23, 0, tzinfo=dt.UTC)  # local midnight, CET
        assert end == dt.datetime(2026, 3, 31, 22, 0, tzinfo=dt.UTC)  # end of 31 March, CEST

    def test_describe_names_groups_test_data_and_period(self):
        text = Selection(("complete", "screened"), False, dt.date(2026, 3, 1), None).describe("de")
        assert text["Interviews"] == "vollständig, ausgescreent"
        assert text["Testdaten"] == "ausgeschlossen"
        assert "2026-03-01" in text["Zeitraum"]


class TestGroups:
    def test_default_is_completes_without_test_data(self, dbsession, study, mix):
        assert resp_ids(dbsession, study, Selection()) == [mix["complete"].resp_id]

    def test_partial_is_partial_ends_and_break_offs_with_answers(self, dbsession, study, mix):
        rows = list(exports.iter_rows(dbsession, study, Selection(("partial",))))
        assert [r["resp_id"] for r in rows] == [mix["partial_end"].resp_id, mix["broken"].resp_id]
        partial_end, broken = rows
        assert partial_end["disposition"] == 5
        # the break-off's row is computed from its state: answers so far, no disposition
        assert broken["disposition"] is None
        assert (broken["S1"], broken["K1_1"], broken["K1_2"], broken["N1"]) == (1, 1, 0, None)

    def test_screened_is_aapor_4(self, dbsession, study, mix):
        assert resp_ids(dbsession, study, Selection(("screened",))) == [mix["screened"].resp_id]

    def test_test_adds_the_test_interviews_of_the_groups(self, dbsession, study, mix):
        ids = resp_ids(dbsession, study, Selection(("complete",), test=True))
        assert ids == [mix["complete"].resp_id, mix["test_complete"].resp_id]
        ids = set(resp_ids(dbsession, study, Selection(("complete", "partial", "screened"), test=True)))
        assert ids == {mix[k].resp_id for k in ("complete", "partial_end", "broken", "screened", "test_complete",
                                                "test_screened")}

    def test_refusals_active_empty_break_offs_and_invalidated_are_never_exported(self, dbsession, study, mix):
        everything = set(resp_ids(dbsession, study, Selection(GROUPS_ALL, test=True)))
        for kind in ("refused", "active", "broken_empty", "invalidated"):
            assert mix[kind].resp_id not in everything

    def test_count_and_data_state(self, dbsession, study, mix):
        before = exports.data_state(dbsession, study, Selection())
        assert before.count == 1 and before.id_sum == mix["complete"].id
        mix["test_complete"].is_test = False
        dbsession.flush()
        after = exports.data_state(dbsession, study, Selection())
        assert after.count == 2 and after.digest() != before.digest()
        mix["complete"].updated_at = NOW + dt.timedelta(hours=1)
        dbsession.flush()
        assert exports.data_state(dbsession, study, Selection()).last_change != after.last_change


GROUPS_ALL = ("complete", "partial", "screened")


class TestPeriod:
    def test_by_local_end_day(self, dbsession, study):
        late = add_interview(dbsession, study, COMPLETE, at=dt.datetime(2026, 3, 9, 23, 30, tzinfo=dt.UTC))
        early = add_interview(dbsession, study, COMPLETE, at=dt.datetime(2026, 3, 9, 22, 30, tzinfo=dt.UTC))
        # 23:30 UTC on 9 March is 00:30 on 10 March in Berlin
        assert resp_ids(dbsession, study, Selection(since=dt.date(2026, 3, 10))) == [late.resp_id]
        assert resp_ids(dbsession, study, Selection(until=dt.date(2026, 3, 9))) == [early.resp_id]
        assert resp_ids(dbsession, study, Selection(since=dt.date(2026, 3, 11))) == []

    def test_break_offs_by_last_activity(self, dbsession, study):
        broken = add_interview(dbsession, study, BROKEN, at=dt.datetime(2026, 3, 1, 10, 0, tzinfo=dt.UTC))
        assert resp_ids(dbsession, study, Selection(("partial",), until=dt.date(2026, 3, 1))) == [broken.resp_id]
        assert resp_ids(dbsession, study, Selection(("partial",), since=dt.date(2026, 3, 2))) == []


HEADER = "id,phone,name,postcode,state,kd_tel,region\n"


class TestAttemptsAndContacts:
    @pytest.fixture
    def case(self, dbsession, study):
        data = (HEADER + "R1,030 1234567,Erika Muster,10115,BE,030 999,2\n").encode()
        assert import_sample(dbsession, study, data, filename="s.csv").imported == 1
        case = dbsession.scalar(select(Case).where(Case.study_id == study.id))
        case.attempts = 3
        dbsession.flush()
        return case

    def test_attempts_come_from_the_case(self, dbsession, study, case):
        with_case = add_interview(dbsession, study, COMPLETE, case=case)
        test = add_interview(dbsession, study, COMPLETE, test=True)
        rows = {r["resp_id"]: r for r in exports.iter_rows(dbsession, study, Selection(test=True))}
        assert rows[with_case.resp_id]["attempts"] == 3
        assert rows[test.resp_id]["attempts"] is None  # test interviews have no case

    def test_personal_data_only_in_the_contact_export(self, dbsession, study, case):
        add_interview(dbsession, study, COMPLETE, case=case, sample={"kd_tel": "030 999", "region": 2})
        data = exports.build(dbsession, study, Selection()).dataset
        assert {"kd_tel", "T1"}.isdisjoint(data.names) and "region" in data.names and "N1" in data.names
        assert set(data.info.excluded) == {"kd_tel", "T1"}
        contacts = exports.build(dbsession, study, Selection(), contacts=True).dataset
        assert contacts.names[:3] == ["resp_id", "disposition", "q_version"]
        assert {"case_ref", "contact_name", "contact_postcode", "contact_phone", "kd_tel", "T1",
                "attempts"} <= set(contacts.names)
        assert {"N1", "K1_1", "region", "S1"}.isdisjoint(contacts.names)  # answers stay in the data file
        row = dict(zip(contacts.names, next(contacts.iter_rows()), strict=True))
        assert (row["case_ref"], row["contact_name"], row["contact_postcode"]) == ("R1", "Erika Muster", "10115")
        assert row["contact_phone"] == "+49301234567" and row["kd_tel"] == "030 999" and row["T1"] == "030 999"


V2 = QUESTIONNAIRE.replace("version: 1", "version: 2").replace(
    "options: [{code: 1, de: Alpha}, {code: 2, de: Beta}, {code: 3, de: Gamma}]",
    "options: [{code: 1, de: Alpha}, {code: 2, de: Beta}, {code: 3, de: Gamma}, {code: 4, de: Delta}]")


class TestVersions:
    def test_union_of_every_version_used(self, dbsession, study, tmp_path):
        first = add_interview(dbsession, study, COMPLETE)
        v2 = publish_version(dbsession, study, source=V2, source_name="v2.yaml")
        second = add_interview(dbsession, study, {**COMPLETE, "K1": [4]}, version=v2)
        built = exports.build(dbsession, study, Selection())
        assert built.versions == [1, 2]
        names = built.dataset.names
        assert names.index("K1_4") == names.index("K1_3") + 1
        rows = {r[0]: dict(zip(names, r, strict=True)) for r in built.dataset.iter_rows()}
        assert rows[first.resp_id]["K1_4"] is None and rows[second.resp_id]["K1_4"] == 1
        assert rows[first.resp_id]["q_version"] == 1 and rows[second.resp_id]["q_version"] == 2
        paths = write(built.dataset, "sav", tmp_path / "study.sav")
        assert [p.name for p in paths] == ["study.sav", "study.sps"]

    def test_only_versions_in_the_selection(self, dbsession, study):
        publish_version(dbsession, study, source=V2, source_name="v2.yaml")
        add_interview(dbsession, study, COMPLETE, version=study.versions[0])
        assert exports.build(dbsession, study, Selection()).versions == [1]

    def test_empty_selection_exports_the_current_variables(self, dbsession, study):
        publish_version(dbsession, study, source=V2, source_name="v2.yaml")
        built = exports.build(dbsession, study, Selection())
        assert built.dataset.n_rows == 0 and "K1_4" in built.dataset.names and built.versions == [2]


def test_batches_report_progress(dbsession, study):
    for _ in range(5):
        add_interview(dbsession, study, COMPLETE)
    seen: list[int] = []
    rows = list(exports.iter_rows(dbsession, study, Selection(), batch=2, progress=seen.append))
    assert len(rows) == 5 and seen == [2, 4, 5]
