"""Importing samples: all or nothing, duplicates, do-not-call, legal basis, contact data apart."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from cati.models import Case, CasePhone, Contact, SampleImport
from cati.services import dnc
from cati.services.sample_import import import_sample
from cati.services.studies import create_study

EXAMPLES = Path(__file__).resolve().parents[4] / "shared" / "specs" / "examples"
HEADER = "id,phone,name,state,person_type,customer,consent_at,kd_anrede,kd_name,kd_tel,produkt,kaufdatum,montage\n"


def row(ref, phone, *, state="NW", person="private", customer="no", consent="2026-01-05T10:00:00+01:00",
        anrede="2", produkt="Waschmaschine", kaufdatum="2026-10-01", montage="1"):
    return f"{ref},{phone},Erika Muster,{state},{person},{customer},{consent},{anrede},Muster,{phone},{produkt}," \
           f"{kaufdatum},{montage}\n"


@pytest.fixture
def study(dbsession):
    source = (EXAMPLES / "haustech_nachkauf.yaml").read_text()
    return create_study(dbsession, source=source, source_name="haustech.yaml", purpose="customer_satisfaction")


def count(session, model):
    return session.scalar(select(func.count()).select_from(model))


def run(session, study, text, **kw):
    return import_sample(session, study, text.encode(), filename="sample.csv", **kw)


def test_valid_file_imports_every_row_with_contact_data_apart(dbsession, study):
    report = run(dbsession, study, HEADER + row("A1", "030 1234567") + row("A2", "0171/2345678", state="BY"))
    assert report.committed and report.imported == 2 and report.problems == []
    cases = dbsession.scalars(select(Case).order_by(Case.ref)).all()
    assert [c.ref for c in cases] == ["A1", "A2"]
    # Non-personal sample fields, typed, stay with the case; names and numbers do not.
    assert cases[0].fields == {"kd_anrede": 2, "produkt": "Waschmaschine", "kaufdatum": "2026-10-01", "montage": 1}
    assert "Muster" not in repr(cases[0].fields)
    contact = dbsession.get(Contact, cases[0].id)
    assert contact.name == "Erika Muster"
    assert contact.pii_fields == {"kd_name": "Muster", "kd_tel": "030 1234567"}
    assert [p.e164 for p in contact.phones] == ["+49301234567"]
    assert cases[1].zone.region == "BY" and cases[1].zone.tz == "Europe/Berlin"


def test_any_invalid_row_imports_nothing_and_names_row_and_column(dbsession, study):
    text = HEADER + row("A1", "030 1234567") + row("A2", "12") + row("A3", "089 1234567", state="XX")
    report = run(dbsession, study, text)
    assert not report.committed
    assert {(p.row, p.column) for p in report.problems} >= {(3, "phone"), (4, "state")}
    assert count(dbsession, Case) == count(dbsession, SampleImport) == 0


def test_skip_invalid_imports_the_valid_rows(dbsession, study):
    text = HEADER + row("A1", "030 1234567") + row("A2", "12")
    report = run(dbsession, study, text, skip_invalid=True)
    assert report.committed and report.imported == 1 and report.invalid_rows == 1


def test_bad_sample_field_value_is_invalid(dbsession, study):
    report = run(dbsession, study, HEADER + row("A1", "030 1234567", montage="7"))
    assert not report.committed
    assert [(p.row, p.column) for p in report.problems] == [(2, "montage")]


def test_missing_declared_sample_column_is_a_file_problem(dbsession, study):
    text = "id,phone\nA1,030 1234567\n"
    report = run(dbsession, study, text, skip_invalid=True)
    assert not report.committed
    assert {p.column for p in report.problems} >= {"kd_anrede", "produkt"}


def test_reimport_adds_nothing_and_reports_duplicates(dbsession, study):
    text = HEADER + row("A1", "030 1234567") + row("A2", "0171 2345678")
    assert run(dbsession, study, text).imported == 2
    again = run(dbsession, study, text)
    assert again.committed and again.imported == 0
    assert [r for r, _ in again.duplicates] == [2, 3]
    # Same number under another reference is a duplicate too.
    other = run(dbsession, study, HEADER + row("B1", "+49 30 1234567"))
    assert other.imported == 0 and "already in the study" in other.duplicates[0][1]
    assert count(dbsession, Case) == 2


def test_duplicate_number_within_file_keeps_first(dbsession, study):
    report = run(dbsession, study, HEADER + row("A1", "030 1234567") + row("A2", "+49301234567"))
    assert report.imported == 1
    assert report.duplicates == [(3, "number +49301234567 as in row 2")]


def test_legal_basis_blocks_private_without_consent_and_says_why(dbsession, study):
    text = (HEADER + row("A1", "030 1234567", consent="") + row("A2", "030 7654321", person="business",
            customer="yes", consent="") + row("A3", "030 5555555"))
    report = run(dbsession, study, text)
    assert report.imported == 3 and report.blocked == 1
    states = {c.ref: (c.state, c.block_kind) for c in dbsession.scalars(select(Case))}
    assert states == {"A1": ("blocked", "legal"), "A2": ("ready", ""), "A3": ("ready", "")}
    blocked = dbsession.scalar(select(Case).where(Case.ref == "A1"))
    assert "consent" in blocked.block_reason


def test_do_not_call_numbers_are_blocked_at_import_and_afterwards(dbsession, study):
    dnc.add_numbers(dbsession, ["+49301234567"], salt="s")
    report = run(dbsession, study, HEADER + row("A1", "030 1234567") + row("A2", "030 7654321"), dnc_salt="s")
    assert report.blocked == 1
    added, blocked = dnc.add_numbers(dbsession, ["+49307654321"], salt="s")
    assert (added, blocked) == (1, 1)
    assert {c.state for c in dbsession.scalars(select(Case))} == {"blocked"}
    assert dnc.is_blocked(dbsession, "+49307654321", salt="s")
    assert not dnc.is_blocked(dbsession, "+49307654321", salt="other-salt")


def test_fresh_order_is_reproducible(dbsession, study):
    text = HEADER + "".join(row(f"A{i}", f"030 12345{i:02d}") for i in range(10))
    run(dbsession, study, text)
    order = [c.ref for c in dbsession.scalars(select(Case).order_by(Case.order_key))]
    from cati.services.sample_import import _fresh_key

    assert sorted(order) == sorted(f"A{i}" for i in range(10))
    assert order == sorted(order, key=lambda ref: _fresh_key(str(study.id), ref))
    assert order != sorted(order, key=lambda ref: _fresh_key("another seed", ref))


def test_phone_index_supports_inbound_lookup(dbsession, study):
    run(dbsession, study, HEADER + row("A1", "030 1234567"))
    assert dbsession.scalar(select(CasePhone.case_id).where(CasePhone.e164 == "+49301234567")) is not None


def test_report_notes_name_their_place_like_problems(dbsession, study):
    """A note about the whole file says "file", a note about a column names its letter."""
    ref, phone, rest = row("A1", "030 1234567").split(",", 2)
    text = HEADER.replace("id,phone,", "id,phone,,") + f"{ref},{phone},,{rest}"
    report = import_sample(dbsession, study, text.encode(), filename="sample.csv")  # column C has no name
    assert report.committed, report.lines()
    assert "sample.csv: row 1, column C: note: column has no name and is ignored" in report.lines()
    umlaut = HEADER + row("A2", "030 7654321", produkt="Kühlschrank")
    report = import_sample(dbsession, study, umlaut.encode("cp1252"), filename="alt.csv")
    assert "alt.csv: file: note: the file is not UTF-8; read as Windows-1252" in report.lines()
