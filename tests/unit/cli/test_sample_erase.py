"""`cati sample erase` (real commits): all or nothing, unknown references named."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cati.cli import main
from cati.models import AuditEvent, Case, CasePhone, Contact, DoNotCall

SLUG = "ebike_abo_konzept"


def _setup(ini, ebike, tmp_path):
    assert main(["study", "create", "--questionnaire", str(ebike), "-c", ini]) == 0
    sample = tmp_path / "s.csv"
    sample.write_text("id,phone,name,state\nA1,030 1234567,Erika,BE\nA2,089 7654321,Max,BY\nA3,0171 2345678,Eva,BY\n")
    assert main(["sample", "import", SLUG, str(sample), "-c", ini]) == 0


def _contacts(engine):
    with Session(engine) as session:
        return sorted(session.scalars(select(Case.ref).join(Contact, Contact.case_id == Case.id)))


def test_erase_with_dnc_and_a_file(ini, ebike, engine, tmp_path, capsys):
    _setup(ini, ebike, tmp_path)
    refs = tmp_path / "refs.txt"
    refs.write_text("# Auskunftsersuchen\nA2\n\n")
    capsys.readouterr()
    assert main(["sample", "erase", SLUG, "A1", "--file", str(refs), "--dnc", "--reason", "Brief 2026-11-20",
                 "-c", ini]) == 0
    out = capsys.readouterr().out
    assert "A1: contact data erased (1 numbers added to the do-not-call list); the case is never called again" in out
    assert "2 cases erased in study ebike_abo_konzept, 0 erased before" in out
    assert _contacts(engine) == ["A3"]
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(CasePhone)) == 1
        assert session.scalar(select(func.count()).select_from(DoNotCall)) == 2
        kinds = dict(session.execute(select(Case.ref, Case.block_kind)).all())
        assert kinds == {"A1": "erased", "A2": "erased", "A3": ""}
        assert session.scalar(select(func.count()).where(AuditEvent.action == "case.erase")) == 2
    assert main(["sample", "explain", SLUG, "A1", "-c", ini]) == 0
    assert "contact data erased" in capsys.readouterr().out
    assert main(["sample", "erase", SLUG, "A1", "-c", ini]) == 0
    assert "A1: erased before, nothing to do" in capsys.readouterr().out


def test_unknown_references_erase_nothing(ini, ebike, engine, tmp_path, capsys):
    _setup(ini, ebike, tmp_path)
    assert main(["sample", "erase", SLUG, "A1", "B7", "B8", "-c", ini]) == 1
    err = capsys.readouterr().err
    assert "2 unknown case references in study ebike_abo_konzept: B7, B8; nothing erased" in err
    assert _contacts(engine) == ["A1", "A2", "A3"]
    assert main(["sample", "erase", SLUG, "-c", ini]) == 1
    assert "give case references" in capsys.readouterr().err
    assert main(["sample", "erase", SLUG, "A1", "--reason", "Erika rief an", "-c", ini]) == 1
    assert "the reason names the contact of case A1" in capsys.readouterr().err
    assert _contacts(engine) == ["A1", "A2", "A3"]
    assert main(["sample", "erase", SLUG, "A1", "--by", "Nobody", "-c", ini]) == 1
    assert "--by: username 'Nobody': no such user" in capsys.readouterr().err
    assert _contacts(engine) == ["A1", "A2", "A3"]
