"""Demo content for ``cati initdb --demo`` (and ``make run``): the example studies under
``questionnaires/``, one user per role, and the assignments that let them work together.

Loading is idempotent: what exists already is left alone, so ``make run`` can be repeated.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from cati.models import Case, User
from cati.services import studies, users
from cati.services.sample_import import import_sample

QUESTIONNAIRE_DIR = Path(__file__).resolve().parents[1] / "questionnaires"
SAMPLE_DIR = QUESTIONNAIRE_DIR / "samples"
DEMO_PASSWORD = "demo-2026!"  # noqa: S105 - printed by make run, demo data only


@dataclass(frozen=True)
class DemoStudy:
    file: str
    purpose: str
    client: str


DEMO_STUDIES = (
    DemoStudy("lieferdienst_nachfrage.yaml", "research", "FrischKiste GmbH"),
    DemoStudy("kundendienst_zufriedenheit.yaml", "customer_satisfaction", "Stadtwerke Nordhafen"),
)

DEMO_USERS = (
    # username, role, display name, client
    ("admin", "admin", "Alex Admin", None),
    ("forscherin", "researcher", "Renate Forscher", None),
    ("supervisor", "supervisor", "Sven Supervisor", None),
    ("anna", "interviewer", "Anna Berger", None),
    ("ben", "interviewer", "Ben Yilmaz", None),
    ("kunde", "client", "Karla Kunde", "FrischKiste GmbH"),
)


def load_demo(session: Session, *, dnc_salt: str = "cati-dnc") -> list[tuple[str, str, str]]:
    """Create what is missing; return the demo logins (username, password, role)."""
    by_name: dict[str, User] = {}
    for username, role, display, client in DEMO_USERS:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            user = users.create_user(session, username, role=role, password=DEMO_PASSWORD,
                                     display_name=display, client=client)
        by_name[username] = user
    for demo in DEMO_STUDIES:
        path = QUESTIONNAIRE_DIR / demo.file
        if not path.exists():
            continue
        source = path.read_text(encoding="utf-8")
        questionnaire = studies.compiled(source, str(path))
        study = studies.get_study(session, questionnaire.id)
        if study is None:
            study = studies.create_study(session, source=source, source_name=str(path), purpose=demo.purpose,
                                         client=demo.client)
            studies.update_settings(session, study, {"status": "field"})
        for username in ("supervisor", "anna", "ben", "forscherin"):
            studies.assign_member(session, study, by_name[username])
        sample = SAMPLE_DIR / f"{path.stem}.csv"
        if sample.exists() and session.scalar(select(Case.id).where(Case.study_id == study.id).limit(1)) is None:
            report = import_sample(session, study, sample, filename=sample.name, dnc_salt=dnc_salt)
            if not report.committed:
                raise RuntimeError("demo sample does not import:\n" + "\n".join(report.lines()))
    session.flush()
    return [(u, DEMO_PASSWORD, r) for u, r, _, _ in DEMO_USERS]
