"""`cati testdata`, `cati export` and `cati export-worker` (real commits; exit codes per cli.md)."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati.cli import main
from cati.models import AuditEvent, ExportJob, Interview, Study
from cati.services import export_jobs
from cati.services.exports import Selection

SLUG = "ebike_abo_konzept"


@pytest.fixture
def study(ini, ebike):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    return SLUG


def count(engine, *where):
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Interview).where(*where))


def test_testdata_runs_interviews_flagged_as_test_data(ini, study, engine, capsys):
    assert main(["testdata", study, "--count", "30", "--seed", "4", "-c", ini]) == 0
    out = capsys.readouterr().out
    assert re.match(r"30 test interviews on questionnaire version \d+ \(seed 4\): .*COMPLETE \d+", out)
    assert count(engine) == 30 == count(engine, Interview.is_test.is_(True), Interview.case_id.is_(None))
    with Session(engine) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "study.testdata")).one()
        assert event.details["seed"] == 4


@pytest.mark.parametrize(("args", "status", "message"), [
    (["testdata", "nope", "--count", "3"], 1, "study 'nope' not found"),
    (["testdata", SLUG, "--count", "0"], 2, "must be at least 1"),
    (["testdata", SLUG, "--count", "many"], 2, "not a number"),
    (["testdata", SLUG], 2, "--count"),
    (["testdata", SLUG, "--count", "200000"], 1, "--count must be between 1 and 100,000"),
])
def test_testdata_errors(ini, study, engine, capsys, args, status, message):
    assert exit_code([*args, "-c", ini]) == status
    assert message in capsys.readouterr().err
    assert count(engine) == 0


def exit_code(argv):
    """``main``'s status, also for usage errors (argparse exits with 2)."""
    try:
        return main(argv)
    except SystemExit as exc:
        return exc.code


def _completes(engine):
    return count(engine, Interview.status == "complete")


def test_export_sav_writes_the_sps_beside_it_and_is_audited(ini, study, engine, tmp_path, capsys):
    assert main(["testdata", study, "--count", "40", "--seed", "2", "-c", ini]) == 0
    capsys.readouterr()
    target = tmp_path / "out.sav"
    assert main(["export", study, "--format", "sav", "-o", str(target), "--include", "complete,test", "-c",
                 ini]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == [str(target), str(tmp_path / "out.sps")]
    assert target.stat().st_size > 0 and (tmp_path / "out.sps").exists()
    assert out[2] == f"{_completes(engine)} interviews exported (complete, with test data)"
    with Session(engine) as session:
        event = session.scalars(select(AuditEvent).where(AuditEvent.action == "export.download")).one()
    assert event.details["via"] == "cli" and event.details["format"] == "sav"
    assert event.details["options"]["test"] is True and event.user_id is None


def test_default_export_has_no_test_data(ini, study, engine, tmp_path, capsys):
    assert main(["testdata", study, "--count", "10", "--seed", "2", "-c", ini]) == 0
    assert main(["export", study, "--format", "csv", "-o", str(tmp_path), "-c", ini]) == 0
    with (tmp_path / f"{study}.csv").open(encoding="utf-8-sig") as fh:
        assert list(csv.reader(fh))[1:] == []
    assert "0 interviews exported (complete)" in capsys.readouterr().out
    assert (tmp_path / f"{study}_codebook.csv").exists()


def test_groups_and_period(ini, study, engine, tmp_path, capsys):
    assert main(["testdata", study, "--count", "40", "--seed", "8", "-c", ini]) == 0
    capsys.readouterr()
    everything = count(engine, Interview.status.in_(("complete", "ended")))  # ebike: no refusal ends
    assert main(["export", study, "--format", "xlsx", "-o", str(tmp_path / "all"),
                 "--include", "complete,screened,test", "-c", ini]) == 0
    assert f"{everything} interviews exported" in capsys.readouterr().out
    assert (tmp_path / "all.xlsx").exists()  # the suffix is added
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert main(["export", study, "--format", "sss", "-o", str(tmp_path / "later.sss"), "--include",
                 "complete,test", "--from", tomorrow, "-c", ini]) == 0
    assert "0 interviews exported" in capsys.readouterr().out


def test_labelled_excel_and_csv_for_excel(ini, study, engine, tmp_path, capsys):
    from openpyxl import load_workbook

    assert main(["testdata", study, "--count", "5", "--seed", "3", "-c", ini]) == 0
    assert main(["export", study, "--format", "xlsx", "--labels", "-o", str(tmp_path / "mit.xlsx"), "--include",
                 "complete,test", "-c", ini]) == 0
    assert main(["export", study, "--format", "xlsx", "-o", str(tmp_path / "ohne.xlsx"), "--include",
                 "complete,test", "-c", ini]) == 0
    assert "Daten_Labels" in load_workbook(tmp_path / "mit.xlsx", read_only=True).sheetnames
    assert "Daten_Labels" not in load_workbook(tmp_path / "ohne.xlsx", read_only=True).sheetnames
    assert main(["export", study, "--format", "csv", "--excel-csv", "-o", str(tmp_path / "excel.csv"), "--include",
                 "complete,test", "-c", ini]) == 0
    data = (tmp_path / "excel.csv").read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") and b";" in data.splitlines()[0]
    with Session(engine) as session:
        options = [e.details["options"] for e in session.scalars(
            select(AuditEvent).where(AuditEvent.action == "export.download").order_by(AuditEvent.id))]
    assert [(o["labels"], o["excel_csv"]) for o in options] == [(True, False), (False, False), (False, True)]


def test_contact_export(ini, study, engine, tmp_path, capsys):
    assert main(["testdata", study, "--count", "5", "--seed", "1", "-c", ini]) == 0
    assert main(["export", study, "--format", "csv", "-o", str(tmp_path / "kontakte.csv"), "--include",
                 "complete,test", "--contacts", "-c", ini]) == 0
    with (tmp_path / "kontakte.csv").open(encoding="utf-8-sig") as fh:
        header = next(csv.reader(fh))
    assert header[:4] == ["resp_id", "disposition", "q_version", "case_ref"]
    with Session(engine) as session:
        assert session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("export.%"))).all() == [
            "export.contacts_download"]


@pytest.mark.parametrize(("args", "status", "message"), [
    (["export", "nope", "--format", "sav", "-o", "{tmp}"], 1, "study 'nope' not found"),
    (["export", SLUG, "--format", "pdf", "-o", "{tmp}"], 2, "invalid choice"),
    (["export", SLUG, "--format", "sav", "-o", "{tmp}", "--include", "complete,nope"], 2, "'nope' is not one of"),
    (["export", SLUG, "--format", "sav", "-o", "{tmp}", "--from", "gestern"], 2, "not a date"),
    (["export", SLUG, "--format", "sav"], 2, "-o"),
    (["export", SLUG, "--format", "sav", "-o", "{tmp}", "--labels"], 2, "--labels is for --format xlsx"),
    (["export", SLUG, "--format", "xlsx", "-o", "{tmp}", "--excel-csv"], 2, "--excel-csv is for --format csv"),
    (["export", SLUG, "--format", "sav", "-o", "{tmp}/missing/x.sav"], 1, "folder not found"),
    (["export", SLUG, "--format", "sav", "-o", "{tmp}/newdir/"], 1, "newdir: folder not found"),
    (["export", SLUG, "--format", "sav", "-o", "{tmp}", "--from", "2026-03-02", "--to", "2026-03-01"], 2,
     "starts (2026-03-02) after it ends"),
])
def test_export_errors(ini, study, tmp_path, capsys, args, status, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    assert exit_code([*args, "-c", ini]) == status
    assert message in capsys.readouterr().err
    assert not list(tmp_path.glob("*.sav"))


def test_export_worker_builds_queued_jobs(ini, study, engine, tmp_path, capsys, monkeypatch):
    assert main(["testdata", study, "--count", "5", "--seed", "1", "-c", ini]) == 0
    folder = tmp_path / "exports"
    with open(ini, "a", encoding="utf-8") as fh:
        fh.write(f"cati.export_dir = {folder}\n")
    with Session(engine) as session, session.begin():
        study_id = session.scalar(select(Study.id).where(Study.slug == SLUG))
        session.add(ExportJob(study_id=study_id, format="xlsx", fingerprint="f", status="queued",
                              options=export_jobs.job_options(Selection(test=True), "en")))
    capsys.readouterr()
    assert main(["export-worker", "--once", "-c", ini]) == 0
    assert "built 1 export" in capsys.readouterr().out
    with Session(engine) as session:
        job = session.scalars(select(ExportJob)).one()
    assert job.status == "done" and (folder / str(job.id) / job.download).exists()
    assert json.loads(json.dumps(job.options))["language"] == "en"
