"""The dispositions report: one row per case, no contact data, CSV and XLSX, audited."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from cati.models import AuditEvent
from cati.services import reports
from cati.services.fieldwork import outcome_labels
from cati.services.reports import ReportError, disposition_rows, dispositions_report
from tests.fieldwork_seed import TUESDAY_10, add_attempt, add_case, local, make_study, make_user


@pytest.fixture
def study(dbsession):
    return make_study(dbsession)


@pytest.fixture
def seeded(dbsession, study):
    anna = make_user(dbsession, study, "anna")
    ben = make_user(dbsession, study, "ben")
    done = add_case(dbsession, study, "A-2", state="final", outcome="complete", aapor="1.1", attempts=2,
                    phone="+4930123456")
    add_attempt(dbsession, done, anna, "no_answer", "3.13", local(2026, 11, 23, 18, 0))
    add_attempt(dbsession, done, ben, "complete", "1.1", local(2026, 11, 24, 9, 30))
    retry = add_case(dbsession, study, "A-1", tier=1, outcome="no_answer", aapor="3.13", attempts=1)
    add_attempt(dbsession, retry, anna, "no_answer", "3.13", local(2026, 11, 24, 9, 0))
    add_case(dbsession, study, "=HYPERLINK(\"http://evil\")")
    add_case(dbsession, study, "T-1", is_test=True)
    return {"anna": anna, "ben": ben}


class TestRows:
    def test_one_row_per_case_by_reference(self, dbsession, study, seeded):
        rows = list(disposition_rows(dbsession, study, labels=outcome_labels(study, "de"), batch=2))
        assert [r.reference for r in rows] == ["=HYPERLINK(\"http://evil\")", "A-1", "A-2"]
        fresh, retry, done = rows
        assert (fresh.attempts, fresh.last_outcome, fresh.aapor, fresh.status) == (0, "", "3.11", "temporary")
        assert (retry.disposition, retry.disposition_label) == ("no_answer", "Keine Antwort")
        assert (done.attempts, done.last_outcome, done.disposition, done.aapor, done.status) == (
            2, "complete", "complete", "1.1", "final")
        assert retry.interviewer.startswith("I-") and done.interviewer.startswith("I-")
        assert retry.interviewer != done.interviewer  # anna and ben
        # no time of the call: beside the data file's interview times it would link reference and answers
        assert not any(isinstance(value, dt.datetime) for value in done.values())

    def test_the_interviewer_is_a_pseudonym_of_the_report_alone(self, dbsession, study, seeded):
        """Never the code the client's data file has (joined on it, the report's references would
        name the answers); the same within a report, another in the next one."""
        other = add_case(dbsession, study, "A-3", outcome="no_answer", aapor="3.13", attempts=1)
        add_attempt(dbsession, other, seeded["anna"], "no_answer", "3.13", local(2026, 11, 24, 9, 10))
        first = {r.reference: r.interviewer for r in disposition_rows(dbsession, study)}
        second = {r.reference: r.interviewer for r in disposition_rows(dbsession, study)}
        assert first["A-1"] == first["A-3"] != first["A-2"]  # anna twice, ben once
        assert seeded["anna"].code not in first.values() and seeded["ben"].code not in first.values()
        assert first["A-1"] != second["A-1"]

    def test_keyset_batches_cover_every_case(self, dbsession, study):
        for i in range(7):
            add_case(dbsession, study, f"R{i}")
        assert len(list(disposition_rows(dbsession, study, batch=3))) == 7


class TestFiles:
    def test_csv(self, dbsession, study, seeded):
        report = dispositions_report(dbsession, study, "csv", now=TUESDAY_10, actor_id=seeded["anna"].id)
        text = report.file.read().decode("utf-8")
        rows = list(csv.reader(io.StringIO(text)))
        assert rows[0] == list(reports.COLUMNS)
        assert rows[1][0] == "'=HYPERLINK(\"http://evil\")"  # shown as text, never evaluated
        assert rows[3][:7] == ["A-2", "2", "complete", "complete", "", "1.1", "final"]
        assert rows[3][7].startswith("I-") and seeded["ben"].code not in text
        assert "2026-11-24" not in text and "09:30" not in text
        assert "+4930123456" not in text and "Muster" not in text
        assert report.rows == 3
        assert report.filename == "ebike-dispositions-20261124-1000.csv"
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "report.download")).one()
        assert event.details == {"report": "dispositions", "format": "csv", "rows": 3}
        assert event.user_id == seeded["anna"].id

    def test_xlsx(self, dbsession, study, seeded):
        report = dispositions_report(dbsession, study, "xlsx", now=TUESDAY_10)
        book = load_workbook(io.BytesIO(report.file.read()))
        sheet = book["Dispositions"]
        values = [[c.value for c in row] for row in sheet.iter_rows()]
        assert values[0] == list(reports.COLUMNS)
        assert values[1][0] == "=HYPERLINK(\"http://evil\")"
        assert sheet.cell(2, 1).data_type == "s"
        assert values[3][:3] == ["A-2", 2, "complete"]
        assert not any(isinstance(value, dt.datetime) for value in values[3])
        assert sheet.freeze_panes == "A2"
        info = {r[0].value: r[1].value for r in book["Info"].iter_rows()}
        assert info["cases"] == 3

    def test_too_many_rows_for_excel(self, dbsession, study, seeded):
        with pytest.raises(ReportError, match="CSV"):
            reports.write_xlsx(disposition_rows(dbsession, study), io.BytesIO(), info={}, max_rows=2)

    def test_unknown_format(self, dbsession, study):
        with pytest.raises(ReportError):
            dispositions_report(dbsession, study, "pdf")


class TestAuditTrail:
    @pytest.fixture
    def trail(self, dbsession, study):
        anna = make_user(dbsession, study, "anna")
        events = [("case.outcome", "case:A", anna.id, local(2026, 11, 23, 9, 0)),
                  ("interview.answer", "interview:1", anna.id, local(2026, 11, 23, 23, 30)),
                  ("case.release", "case:B", None, local(2026, 11, 24, 0, 30)),
                  ("study.settings", "study:ebike", None, local(2026, 11, 24, 9, 0)),
                  ("case.outcome", "case:B", anna.id, local(2026, 11, 24, 9, 0))]
        for action, target, user_id, at in events:
            dbsession.add(AuditEvent(study_id=study.id, action=action, target=target, user_id=user_id, at=at))
        other = make_study(dbsession, slug="andere")
        dbsession.add(AuditEvent(study_id=other.id, action="case.outcome", target="case:A", at=TUESDAY_10))
        dbsession.flush()
        return anna

    def actions(self, rows):
        return [(r.action, r.target) for r in rows]

    def test_filters(self, dbsession, study, trail):
        def page(**kw):
            return self.actions(reports.audit_trail(dbsession, study, reports.AuditFilter(**kw))[0])

        everything = page()
        assert everything[0] == ("case.outcome", "case:B")  # newest first; same time: higher id first
        assert ("study.create", "study:ebike") in everything
        assert page(kind="case.") == [("case.outcome", "case:B"), ("case.release", "case:B"),
                                      ("case.outcome", "case:A")]
        assert page(action="case.outcome", target="case:A") == [("case.outcome", "case:A")]
        assert page(user_id=trail.id) == [("case.outcome", "case:B"), ("interview.answer", "interview:1"),
                                          ("case.outcome", "case:A")]
        day = dt.date(2026, 11, 24)  # local days: 00:30 Berlin on the 24th is the 23rd in UTC
        assert page(since=day, until=day, kind="case.") == [("case.outcome", "case:B"), ("case.release", "case:B")]
        assert page(until=dt.date(2026, 11, 23), kind="interview.") == [("interview.answer", "interview:1")]

    def test_pages_follow_the_cursor(self, dbsession, study, trail):
        seen, cursor = [], None
        while True:
            rows, cursor = reports.audit_trail(dbsession, study, reports.AuditFilter(kind="case.", before=cursor),
                                               limit=2)
            seen += self.actions(rows)
            if cursor is None:
                break
        assert seen == [("case.outcome", "case:B"), ("case.release", "case:B"), ("case.outcome", "case:A")]
