"""Researchers upload sample files on the study's page: what `cati sample import` does, all or
nothing, with the same report."""

from __future__ import annotations

import io

import openpyxl
import pytest
import webtest
from sqlalchemy import func, select

from cati.models import AuditEvent, Case, Contact, SampleImport, StudyMember
from cati.services.studies import create_study

from .conftest import csrf_token
from .test_console_journeys import QUESTIONNAIRE

pytestmark = pytest.mark.db

HEADER = "id,phone,name,state,postcode,person_type,customer,consent_at,consent_source,language\n"
GOOD = HEADER + (
    "K-001,030 4411001,Erika Muster,BE,10437,private,no,,,de\n"
    "K-002,0221 4411002,Max Beispiel,NW,50667,private,no,,,de\n"
    "K-003,040 4411003,Jana Probe,HH,20095,private,no,,,de\n"
    "K-004,+49 30 4411001,Erika Doppelt,BE,10437,private,no,,,de\n"  # the number of row 2 again
)
ONE_BAD = GOOD.replace("0221 4411002", "keine Nummer")


@pytest.fixture
def study(world, dbsession):
    study = create_study(dbsession, source=QUESTIONNAIRE, source_name="konsole.yaml", purpose="research")
    dbsession.flush()
    return study


def cases_of(dbsession, study):
    return dbsession.scalar(select(func.count()).select_from(Case).where(Case.study_id == study.id))


def upload(app, study, content: bytes, name="kontakte.csv", *, status, mapping=None, **fields):
    form = app.get(f"/studies/{study.slug}/sample").forms["sample-form"]
    form["sample"] = webtest.Upload(name, content, "text/csv")
    if mapping is not None:
        form["map"] = webtest.Upload("map.yaml", mapping.encode(), "application/x-yaml")
    for key, value in fields.items():
        form[key] = value
    return form.submit(status=status)


class TestUpload:
    def test_a_good_file_is_imported_and_the_report_lists_the_duplicate(self, study, as_role, dbsession, world):
        app = as_role("researcher")
        page = upload(app, study, GOOD.encode(), status=200)
        summary = page.html.select_one("#import-report .notice-success").text
        assert "Importiert: 3 Fälle" in summary and "1 Duplikate übersprungen" in summary
        lines = [li.text for li in page.html.select("#import-report .report-lines li")]
        assert lines == ["kontakte.csv: row 5: duplicate skipped: number +49304411001 as in row 2"]
        assert cases_of(dbsession, study) == 3
        assert page.html.select_one("#case-count").text == "Die Studie hat 3 Fälle."
        assert dbsession.scalar(select(func.count()).select_from(Contact)
                                .join(Case, Case.id == Contact.case_id).where(Case.study_id == study.id)) == 3
        [batch] = dbsession.scalars(select(SampleImport).where(SampleImport.study_id == study.id)).all()
        assert (batch.filename, batch.imported, batch.duplicates, batch.user_id) == \
            ("kontakte.csv", 3, 1, world.users["researcher"].id)
        row = [td.text for td in page.html.select("#import-history tbody tr")[0].find_all("td")]
        assert row[1:] == ["kontakte.csv", "Rita Researcher", "3", "1", "0"]
        assert dbsession.scalar(select(AuditEvent).where(AuditEvent.action == "sample.import",
                                                         AuditEvent.study_id == study.id)) is not None

    def test_a_number_on_the_do_not_call_list_is_imported_blocked(self, study, as_role, dbsession, app):
        from cati.services import dnc

        dnc.add_numbers(dbsession, ["+492214411002"], salt=app.registry.settings["cati.dnc_salt"])
        page = upload(as_role("researcher"), study, GOOD.encode(), status=200)
        assert "davon 1 nicht anrufbar" in page.html.select_one("#import-report .notice-success").text
        blocked = dbsession.scalar(select(Case).where(Case.study_id == study.id, Case.ref == "K-002"))
        assert (blocked.state, blocked.block_kind) == ("blocked", "dnc")

    def test_the_same_file_again_adds_nothing(self, study, as_role, dbsession):
        app = as_role("researcher")
        upload(app, study, GOOD.encode(), status=200)
        page = upload(app, study, GOOD.encode(), status=200)
        assert "Importiert: 0 Fälle" in page.html.select_one("#import-report").text
        assert cases_of(dbsession, study) == 3
        assert len(page.html.select("#import-history tbody tr")) == 2

    def test_one_invalid_row_imports_nothing_and_names_row_and_column(self, study, as_role, dbsession):
        app = as_role("researcher")
        page = upload(app, study, ONE_BAD.encode(), status=422)
        assert "Es wurde nichts importiert" in page.html.select_one("#import-report .notice-error").text
        lines = [li.text for li in page.html.select("#import-report .report-lines li")]
        assert any(line.startswith("kontakte.csv: row 3, column phone:") for line in lines), lines
        assert cases_of(dbsession, study) == 0
        assert dbsession.scalar(select(func.count()).select_from(SampleImport)) == 0
        assert page.html.select("#import-history") == []

    def test_skip_invalid_imports_the_valid_rows(self, study, as_role, dbsession):
        app = as_role("researcher")
        page = upload(app, study, ONE_BAD.encode(), status=200, skip_invalid=True)
        assert "1 ungültige Zeilen übersprungen" in page.html.select_one("#import-report .notice-success").text
        assert cases_of(dbsession, study) == 2

    def test_a_column_mapping_renames_the_file_s_columns(self, study, as_role, dbsession):
        app = as_role("researcher")
        renamed = GOOD.replace("id,phone,name", "Kundennr,Telefon,Name")
        upload(app, study, renamed.encode(), status=200, mapping="Kundennr: id\nTelefon: phone\n")
        assert set(dbsession.scalars(select(Case.ref).where(Case.study_id == study.id))) == {"K-001", "K-002", "K-003"}

    def test_a_broken_mapping_is_refused_by_name(self, study, as_role, dbsession):
        app = as_role("researcher")
        page = upload(app, study, GOOD.encode(), status=422, mapping="- nur\n- eine Liste\n")
        assert "map.yaml:1:1: expected a mapping" in page.html.select_one(".problems").text
        page = upload(app, study, GOOD.encode(), status=422, mapping="Telefon: phone\nTelefon: phone2\n")
        assert "map.yaml:2:1:" in page.html.select_one(".problems").text  # a column given twice
        assert cases_of(dbsession, study) == 0

    def test_an_excel_file_is_imported(self, study, as_role, dbsession):
        book = openpyxl.Workbook()
        for line in GOOD.splitlines():
            book.active.append(line.split(","))
        data = io.BytesIO()
        book.save(data)
        app = as_role("researcher")
        upload(app, study, data.getvalue(), name="kontakte.xlsx", status=200)
        assert cases_of(dbsession, study) == 3

    def test_a_bad_region_and_a_missing_file_are_refused(self, study, as_role, dbsession):
        app = as_role("researcher")
        page = upload(app, study, GOOD.encode(), status=422, default_region="Deutschland")
        assert "zweibuchstabiger Ländercode" in page.html.select_one(".problems").text
        form = app.get(f"/studies/{study.slug}/sample").forms["sample-form"]
        page = form.submit(status=422)
        assert "Bitte wählen Sie eine Stichprobendatei" in page.html.select_one(".problems").text
        assert cases_of(dbsession, study) == 0


class TestWhoMayUpload:
    @pytest.mark.parametrize("role", ["supervisor", "interviewer", "client"])
    def test_other_roles_are_refused(self, study, as_role, role, dbsession):
        app = as_role(role)
        app.get(f"/studies/{study.slug}/sample", status=(403, 404))
        app.post(f"/studies/{study.slug}/sample",
                 {"csrf_token": csrf_token(app)}, upload_files=[("sample", "k.csv", GOOD.encode())],
                 status=(403, 404))
        assert cases_of(dbsession, study) == 0

    def test_anonymous_is_sent_to_the_login(self, study, as_role):
        response = as_role("anonymous").get(f"/studies/{study.slug}/sample", status=(302, 303))
        assert "/login" in response.location

    def test_without_csrf_token_nothing_is_imported(self, study, as_role, dbsession):
        app = as_role("researcher")
        app.post(f"/studies/{study.slug}/sample", upload_files=[("sample", "k.csv", GOOD.encode())], status=400)
        assert cases_of(dbsession, study) == 0

    def test_the_study_page_links_to_the_upload_for_researchers_only(self, study, as_role, world, dbsession):
        assert as_role("researcher").get(f"/studies/{study.slug}").html.select_one("#sample-link") is not None
        dbsession.add(StudyMember(study_id=study.id, user_id=world.users["supervisor"].id))
        dbsession.flush()
        dbsession.expire(study)  # its members were loaded by the researcher's request
        assert as_role("supervisor").get(f"/studies/{study.slug}").html.select_one("#sample-link") is None
