"""The client portal: a client sees only its own studies (progress, topline, downloads), never
another client's study nor any contact export; interviewers export nothing; every download is
audited; SPSS comes as a zip of .sav + .sps; an unchanged study is not exported twice."""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select, update

from cati.models import AuditEvent, ExportJob, Interview, StudyMember
from cati.services import export_jobs, exports, testdata
from cati.services.studies import create_study

from .conftest import csrf_token

EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "specs" / "examples"


@pytest.fixture
def exports_dir(app, tmp_path, monkeypatch):
    folder = tmp_path / "exports"
    monkeypatch.setitem(app.registry.settings, "cati.export_dir", str(folder))
    return folder


@pytest.fixture
def study(dbsession, world, exports_dir):
    """A real study of the client Acme (the world's client) with 40 random interviews, of which
    the first 30 count as real ones and the rest stay test interviews."""
    study = create_study(dbsession, source=(EXAMPLES / "haustech_nachkauf.yaml").read_text(encoding="utf-8"),
                         source_name="haustech.yaml", purpose="customer_satisfaction", client="Acme Mobility")
    for role in ("supervisor", "interviewer"):
        dbsession.add(StudyMember(study_id=study.id, user_id=world.users[role].id))
    testdata.generate(dbsession, study, 40, seed=7)
    ids = list(dbsession.scalars(select(Interview.id).where(Interview.study_id == study.id).order_by(Interview.id)))
    dbsession.execute(update(Interview).where(Interview.id.in_(ids[:30])).values(is_test=False))
    dbsession.flush()
    dbsession.expire_all()
    return study


def _completes(dbsession, study, test=False):
    return dbsession.scalar(select(Interview.id).where(Interview.study_id == study.id, Interview.status == "complete",
                                                      Interview.is_test.is_(test)).limit(1)) is not None


def request_file(app, slug, fmt="sav", include=("complete",), status=303, route="downloads", **extra):
    data = [("csrf_token", csrf_token(app)), ("format", fmt), *(("include", g) for g in include)]
    data += list(extra.items())
    return app.post(f"/portal/{slug}/{route}", data, status=status)


def jobs(dbsession):
    return list(dbsession.scalars(select(ExportJob).order_by(ExportJob.id)))


class TestClientSeesOwnStudiesOnly:
    def test_portal_lists_own_studies(self, world, study, as_role):
        page = as_role("client").get("/portal")
        names = {a.text.strip() for a in page.html.select("#portal-studies td a[href*='/portal/']")}
        assert study.name in names and world.own.name in names
        assert world.other.name not in page.text

    def test_start_page_links_to_the_portal(self, world, study, as_role):
        page = as_role("client").get("/")
        assert page.html.select_one("#portal-link")["href"].endswith("/portal")
        assert page.html.select(f"a[href$='/portal/{study.slug}']")

    def test_progress_and_topline(self, dbsession, study, as_role):
        app = as_role("client")
        real = dbsession.scalar(select(Interview.id).where(Interview.study_id == study.id,
                                                          Interview.status == "complete",
                                                          Interview.is_test.is_(False)).limit(1))
        n_complete = len(list(dbsession.scalars(select(Interview.id).where(
            Interview.study_id == study.id, Interview.status == "complete", Interview.is_test.is_(False)))))
        assert real is not None
        progress = app.get(f"/portal/{study.slug}")
        assert progress.html.select_one("#completes").text.split()[0] == str(n_complete)
        topline = app.get(f"/portal/{study.slug}/topline")
        assert f"{n_complete} vollständige Interviews" in topline.text
        assert topline.html.select_one("#topline-N1") is not None  # the NPS question
        assert "Net Promoter Score" in topline.text
        assert topline.html.select("#topline-N1 svg.pt-bar")  # inline SVG bars
        assert topline.html.select_one("#topline-C1 svg.pt-stack") is not None  # the grid
        # personal data never: kd_tel is a pii sample field, F3 a pii question
        assert topline.html.select_one("#topline-F3") is None

    @pytest.mark.parametrize("path", ["", "/topline", "/downloads"])
    def test_another_clients_study_is_not_found(self, world, study, as_role, path):
        as_role("client").get(f"/portal/{world.other.slug}{path}", status=404)

    def test_download_of_another_clients_job_is_not_found(self, dbsession, world, study, as_role):
        job = ExportJob(study_id=world.other.id, format="csv", options={}, fingerprint="x", status="done",
                        download="x.zip")
        dbsession.add(job)
        dbsession.flush()
        app = as_role("client")
        app.get(f"/portal/{world.other.slug}/downloads/{job.id}", status=404)
        app.get(f"/portal/{study.slug}/downloads/{job.id}", status=404)  # not a job of this study


class TestContactExport:
    def test_client_cannot_request_or_see_contact_exports(self, dbsession, study, as_role):
        researcher = as_role("researcher")
        response = request_file(researcher, study.slug, "csv", route="contacts")
        contact_job = jobs(dbsession)[-1]
        assert contact_job.contacts and contact_job.status == "done"
        assert response.location.endswith(f"/downloads/{contact_job.id}")
        client = as_role("client")
        request_file(client, study.slug, "csv", route="contacts", status=403)
        client.get(f"/portal/{study.slug}/downloads/{contact_job.id}", status=404)
        page = client.get(f"/portal/{study.slug}/downloads")
        assert page.html.select_one("#contacts-form") is None
        assert page.html.select_one("#contact-jobs") is None
        supervisor = as_role("supervisor")
        request_file(supervisor, study.slug, "csv", route="contacts", status=403)
        supervisor.get(f"/portal/{study.slug}/downloads/{contact_job.id}", status=404)

    def test_researcher_gets_contacts_and_personal_variables_only(self, dbsession, study, as_role):
        researcher = as_role("researcher")
        file = request_file(researcher, study.slug, "csv", route="contacts", include=("complete", "test")).follow()
        with zipfile.ZipFile(io.BytesIO(file.body)) as archive:
            data = archive.read(f"{study.slug}.csv").decode("utf-8-sig")
        header = data.splitlines()[0].split(",")
        assert {"resp_id", "case_ref", "contact_name", "contact_phone", "kd_tel", "F3"} <= set(header)
        assert "N1" not in header  # answers stay in the data file
        events = list(dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "export.contacts_download")))
        assert len(events) == 1 and events[0].details["contacts"] is True


class TestInterviewerCannotExport:
    def test_interviewer_gets_nothing(self, study, as_role):
        app = as_role("interviewer")
        app.get("/portal", status=403)
        app.get(f"/portal/{study.slug}", status=403)
        app.get(f"/portal/{study.slug}/downloads", status=403)
        request_file(app, study.slug, status=403)
        request_file(app, study.slug, route="contacts", status=403)


class TestDownloads:
    def test_spss_is_a_zip_of_sav_and_sps_and_the_download_is_audited(self, dbsession, world, study, as_role):
        app = as_role("client")
        response = request_file(app, study.slug, "sav")
        job = jobs(dbsession)[-1]
        assert (job.status, job.format, job.contacts) == ("done", "sav", False)
        file = response.follow()
        assert file.content_type == "application/zip"
        assert f'filename="{study.slug}_sav.zip"' in file.headers["Content-Disposition"]
        with zipfile.ZipFile(io.BytesIO(file.body)) as archive:
            assert sorted(archive.namelist()) == [f"{study.slug}.sav", f"{study.slug}.sps"]
            assert b"GET FILE" in archive.read(f"{study.slug}.sps").upper() or archive.read(f"{study.slug}.sps").strip()
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "export.download")).one()
        assert event.user_id == world.users["client"].id and event.study_id == study.id
        assert event.details["format"] == "sav" and event.details["contacts"] is False
        assert event.details["options"]["groups"] == ["complete"] and event.details["options"]["test"] is False
        assert event.details["rows"] == job.total
        # downloading the same file again is audited again
        app.get(f"/portal/{study.slug}/downloads/{job.id}", status=200)
        assert len(list(dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "export.download")))) == 2

    def test_default_export_has_completes_without_test_data(self, dbsession, study, as_role):
        app = as_role("client")
        request_file(app, study.slug, "xlsx")
        real = len(list(dbsession.scalars(select(Interview.id).where(
            Interview.study_id == study.id, Interview.status == "complete", Interview.is_test.is_(False)))))
        assert jobs(dbsession)[-1].total == real
        request_file(app, study.slug, "xlsx", include=("complete", "screened", "test"))
        everything = len(list(dbsession.scalars(select(Interview.id).where(
            Interview.study_id == study.id, Interview.status.in_(("complete", "ended")),
            Interview.disposition != "REFUSED"))))
        assert jobs(dbsession)[-1].total == everything > real

    def test_unchanged_data_reuses_the_file_until_the_data_change(self, dbsession, study, as_role):
        app = as_role("client")
        first = request_file(app, study.slug, "csv").location
        second = request_file(as_role("supervisor"), study.slug, "csv").location
        assert first == second and len(jobs(dbsession)) == 1
        # another format or other options: another file
        request_file(app, study.slug, "sss")
        assert len(jobs(dbsession)) == 2
        # the data change (a test interview becomes a real complete): a new file, the old one retires
        test_complete = dbsession.scalar(select(Interview).where(
            Interview.study_id == study.id, Interview.status == "complete", Interview.is_test.is_(True)).limit(1))
        test_complete.is_test = False
        dbsession.flush()
        third = request_file(app, study.slug, "csv").location
        assert third != first
        old = jobs(dbsession)[0]
        assert old.status == "expired" and export_jobs.download_path(old, Path("/nonexistent")) is None
        app.get(first, status=303)  # the old file is gone: back to the downloads page

    def test_background_job_shows_progress_and_then_the_file(self, app, dbsession, study, as_role, exports_dir,
                                                              monkeypatch):
        monkeypatch.setitem(app.registry.settings, "cati.export_inline_rows", 0)
        client = as_role("client")
        response = request_file(client, study.slug, "xlsx")
        assert response.location.endswith(f"/portal/{study.slug}/downloads")
        job = jobs(dbsession)[-1]
        assert job.status == "queued" and job.total > 0
        page = response.follow()
        assert page.html.select_one(f"tr[data-job='{job.id}']")["data-status"] == "queued"
        assert page.html.select_one("meta[http-equiv='refresh']") is not None
        job.status, job.done = "running", 3
        dbsession.flush()
        page = client.get(f"/portal/{study.slug}/downloads")
        assert page.html.select_one(f"tr[data-job='{job.id}'] progress")["value"] == "3"
        # what a worker does, in this test's transaction
        result = export_jobs.produce(dbsession, job, exports_dir)
        export_jobs.finish(dbsession, job, result, exports_dir)
        page = client.get(f"/portal/{study.slug}/downloads")
        assert page.html.select_one("meta[http-equiv='refresh']") is None
        link = page.html.select_one(f"tr[data-job='{job.id}'] a")["href"]
        assert client.get(link).content_type.startswith("application/vnd.openxmlformats")

    def test_form_errors_are_shown(self, study, as_role):
        app = as_role("client")
        page = request_file(app, study.slug, "pdf", status=422)
        assert "Bitte wählen Sie ein Dateiformat." in page.text
        page = request_file(app, study.slug, "csv", status=422, since="2026-05-02", until="2026-05-01")
        assert "Der Zeitraum beginnt nach seinem Ende." in page.text
        page = request_file(app, study.slug, "csv", status=422, since="gestern")
        assert "gestern ist kein Datum" in page.text

    def test_period_selects_by_end_date(self, dbsession, study, as_role):
        app = as_role("client")
        request_file(app, study.slug, "csv", since="2001-01-01", until="2001-01-31")
        job = jobs(dbsession)[-1]
        assert job.status == "done" and job.total == 0


class TestFileOptions:
    """The download form's file options: Excel with a labelled data sheet, CSV for Excel."""

    def test_labelled_excel_has_the_labels_sheet_and_the_plain_one_has_none(self, dbsession, study, as_role):
        app = as_role("client")
        page = app.get(f"/portal/{study.slug}/downloads")
        form = page.forms["export-form"]
        form["format"] = "xlsx"
        form["labels"] = True
        labelled = form.submit(status=303).follow()
        plain = request_file(app, study.slug, "xlsx").follow()
        assert len(jobs(dbsession)) == 2  # two files: the labelled one is not the cached plain one
        variables = {v.name: v for v in exports.build(dbsession, study, exports.Selection()).dataset.variables}
        book = openpyxl.load_workbook(io.BytesIO(labelled.body))  # not read_only: rows of equal length
        assert book.sheetnames == ["Daten", "Daten_Labels", "Codebuch", "Info"]
        codes, labels = (list(book[name].iter_rows(values_only=True)) for name in ("Daten", "Daten_Labels"))
        assert codes[0] == labels[0] and len(codes) == len(labels) > 1
        replaced = 0
        for code_row, label_row in zip(codes[1:], labels[1:], strict=True):
            for name, code, label in zip(codes[0], code_row, label_row, strict=True):
                text = variables[name].value_labels.get(code)
                if text:  # a code with a (non-empty) label
                    assert label == text != code
                    replaced += 1
                else:
                    assert label == code
        assert replaced > len(codes)  # many a labelled code in every row, e.g. the disposition
        assert openpyxl.load_workbook(io.BytesIO(plain.body), read_only=True).sheetnames == [
            "Daten", "Codebuch", "Info"]
        requested, downloaded = (dbsession.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                                   .order_by(AuditEvent.id)).all()
                                 for action in ("export.request", "export.download"))
        assert [e.details["options"]["labels"] for e in requested] == [True, False]
        assert [e.details["options"]["labels"] for e in downloaded] == [True, False]
        listed = app.get(f"/portal/{study.slug}/downloads").html
        kinds = [row.select("td")[1].text for row in listed.select("#export-jobs tbody tr")]
        assert kinds[0] == "xlsx" and kinds[1].startswith("xlsx, ") and kinds[1] != "xlsx, "

    def test_csv_for_excel_has_a_bom_and_semicolons(self, dbsession, study, as_role):
        app = as_role("client")
        file = request_file(app, study.slug, "csv_excel").follow()
        job = jobs(dbsession)[-1]
        assert (job.format, job.options["excel_csv"]) == ("csv", True)
        with zipfile.ZipFile(io.BytesIO(file.body)) as archive:
            data = archive.read(f"{study.slug}.csv")
            codebook = archive.read(f"{study.slug}_codebook.csv")
        assert data.startswith(b"\xef\xbb\xbfresp_id;") and codebook.startswith(b"\xef\xbb\xbfname;")
        rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""), delimiter=";"))
        assert len(rows) == job.total + 1 and {len(r) for r in rows} == {len(rows[0])} and len(rows[0]) > 10
        # the plain CSV is another file and stays comma-separated without a BOM
        plain = request_file(app, study.slug, "csv").follow()
        with zipfile.ZipFile(io.BytesIO(plain.body)) as archive:
            assert archive.read(f"{study.slug}.csv").startswith(b"resp_id,")
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "export.download")
                                  .order_by(AuditEvent.id)).first()
        assert event.details["format"] == "csv" and event.details["options"]["excel_csv"] is True

    def test_labels_box_stays_ticked_when_the_form_is_refused(self, study, as_role):
        page = request_file(as_role("client"), study.slug, "xlsx", status=422, labels="1", since="gestern")
        assert page.html.select_one("#export-form-labels").has_attr("checked")
