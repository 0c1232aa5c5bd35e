"""Demo content for ``cati initdb --demo`` (and ``make run``): the example studies under
``questionnaires/``, one user per role, and the assignments that let them work together.

The two example studies keep the calling hours of their purpose (``adm``, ``ddv``), so outside
them - evenings, Sundays, holidays - they deliver no case, as in production. A third study,
``schulung``, is what a call centre trains new interviewers on: the demand questionnaire with the
demo's fictitious sample, callable around the clock (``calling_profile custom``, Sundays and
holidays allowed), so that the console can be tried at any hour.

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
    client: str | None
    slug: str | None = None  # default: the questionnaire's id
    name: str | None = None  # default: the questionnaire's title
    settings: tuple[tuple[str, str], ...] = ()


DEMO_STUDIES = (
    DemoStudy("lieferdienst_nachfrage.yaml", "research", "FrischKiste GmbH"),
    DemoStudy("kundendienst_zufriedenheit.yaml", "customer_satisfaction", "Stadtwerke Nordhafen"),
    DemoStudy("lieferdienst_nachfrage.yaml", "research", None, slug="schulung",
              name="Schulung: Übungsinterviews mit fiktiven Nummern (rund um die Uhr)",
              settings=(("calling_profile", "custom"), ("calling_windows", "mon-sun 00:00-24:00"),
                        ("allow_sunday_holiday", "yes"), ("priority", "10"))),
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
        study = studies.get_study(session, demo.slug or questionnaire.id)
        if study is None:
            study = studies.create_study(session, source=source, source_name=str(path), purpose=demo.purpose,
                                         client=demo.client, slug=demo.slug, name=demo.name)
            studies.update_settings(session, study, {**dict(demo.settings), "status": "field"})
        for username in ("supervisor", "anna", "ben", "forscherin"):
            studies.assign_member(session, study, by_name[username])
        sample = SAMPLE_DIR / f"{path.stem}.csv"
        if sample.exists() and session.scalar(select(Case.id).where(Case.study_id == study.id).limit(1)) is None:
            report = import_sample(session, study, sample, filename=sample.name, dnc_salt=dnc_salt)
            if not report.committed:
                raise RuntimeError("demo sample does not import:\n" + "\n".join(report.lines()))
    session.flush()
    return [(u, DEMO_PASSWORD, r) for u, r, _, _ in DEMO_USERS]
