"""Studies: creation from a questionnaire, new versions, fieldwork settings, members.

Every function changes the database only through the caller's session and raises
:class:`StudyError` before changing anything, so a bad questionnaire or setting leaves the
study exactly as it was.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Select, false, select
from sqlalchemy.orm import Session

from cati.models import Attempt, Purpose, QuestionnaireVersion, Role, Study, StudyMember, StudyStatus, User
from cati.questionnaires.errors import QuestionnaireError
from cati.questionnaires.model import Questionnaire
from cati.sampling import fieldwork_settings
from cati.sampling.calling_rules import legal_basis_reason
from cati.sampling.dispositions import customise
from cati.sampling.fieldwork_settings import SettingsError

from . import audit, quotas
from .questionnaires import compiled, sha256

__all__ = ["StudyError", "compiled", "create_study", "get_study", "publish_version", "update_settings"]
from .users import get_or_create_client

SLUG_RE = re.compile(r"^[a-z][a-z0-9_-]{1,63}$")
#: Slugs that collide with fixed paths under /studies/.
RESERVED_SLUGS = frozenset({"new"})
#: Who may work on a study by being assigned to it; admins and researchers see every study.
MEMBER_ROLES = (Role.SUPERVISOR.value, Role.INTERVIEWER.value, Role.RESEARCHER.value)


class StudyError(ValueError):
    """Why a study operation was refused: one line per problem (``FILE:LINE:COL: message`` for
    questionnaire problems, ``field: message`` otherwise)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def _compile(source: str, source_name: str) -> Questionnaire:
    try:
        return compiled(source, source_name)
    except QuestionnaireError as exc:
        raise StudyError([str(p) for p in exc.problems]) from None


def get_study(session: Session, slug: str) -> Study | None:
    return session.scalar(select(Study).where(Study.slug == slug))


def create_study(
    session: Session,
    *,
    source: str,
    source_name: str,
    name: str | None = None,
    slug: str | None = None,
    purpose: str = Purpose.RESEARCH.value,
    client: str | None = None,
    actor_id: int | None = None,
) -> Study:
    """Create a study in status ``draft`` with its first questionnaire version."""
    questionnaire = _compile(source, source_name)
    slug = slug or questionnaire.id
    problems = []
    if not SLUG_RE.match(slug):
        problems.append(f"slug {slug!r}: use 2-64 characters: lower-case letters, digits, '_' or '-', letter first")
    elif slug in RESERVED_SLUGS:
        problems.append(f"slug {slug!r}: reserved, choose another (--name)")
    elif get_study(session, slug) is not None:
        problems.append(f"slug {slug!r}: a study with this slug exists already")
    if purpose not in {p.value for p in Purpose}:
        problems.append(f"purpose {purpose!r}: must be one of {', '.join(p.value for p in Purpose)}")
    if problems:
        raise StudyError(problems)
    title = questionnaire.title.raw[questionnaire.default_language]
    study = Study(
        slug=slug,
        name=name or title,
        purpose=purpose,
        status=StudyStatus.DRAFT.value,
        client=get_or_create_client(session, client) if client else None,
        settings={},
    )
    session.add(study)
    session.flush()
    _add_version(session, study, questionnaire, source, actor_id)
    audit.record(session, "study.create", user_id=actor_id, study_id=study.id, target=f"study:{slug}",
                 details={"purpose": purpose, "questionnaire": questionnaire.id, "version": questionnaire.version})
    return study


def _add_version(
    session: Session, study: Study, questionnaire: Questionnaire, source: str, actor_id: int | None
) -> QuestionnaireVersion:
    version = QuestionnaireVersion(
        study=study,
        questionnaire_id=questionnaire.id,
        version=questionnaire.version,
        title=questionnaire.title.raw[questionnaire.default_language][:300],
        source=source,
        sha256=sha256(source),
        published_by_id=actor_id,
    )
    session.add(version)
    session.flush()
    return version


def publish_version(
    session: Session, study: Study, *, source: str, source_name: str, actor_id: int | None = None
) -> QuestionnaireVersion:
    """Store a new questionnaire version; earlier interviews keep the version they ran on.

    The new file must keep the questionnaire ``id`` and raise ``version``: a version number
    always names one text, so data sets and interviews can say which text they ran on.
    """
    questionnaire = _compile(source, source_name)
    current = study.current_version
    if current is not None:
        if questionnaire.id != current.questionnaire_id:
            raise StudyError([f"{source_name}: id {questionnaire.id!r} differs from the study's "
                              f"questionnaire {current.questionnaire_id!r}"])
        if questionnaire.version <= current.version:
            raise StudyError([f"{source_name}: version {questionnaire.version} must be higher than the "
                              f"current version {current.version}"])
    version = _add_version(session, study, questionnaire, source, actor_id)
    if questionnaire.quotas:
        quotas.sync_cells(session, study, actor_id=actor_id)  # the new version's default targets
    audit.record(session, "study.publish", user_id=actor_id, study_id=study.id, target=f"study:{study.slug}",
                 details={"version": questionnaire.version, "sha256": version.sha256})
    return version


def current_questionnaire(study: Study) -> Questionnaire | None:
    version = study.current_version
    return None if version is None else compiled(version.source, f"{study.slug} v{version.version}")


def set_status(session: Session, study: Study, status: str, actor_id: int | None = None) -> None:
    update_settings(session, study, {"status": status}, actor_id=actor_id)


def update_settings(session: Session, study: Study, changes: dict[str, str], actor_id: int | None = None) -> None:
    """Apply ``KEY=VALUE`` changes all together, or none of them (StudyError names the key)."""
    questionnaire = current_questionnaire(study)
    quota_cells = {q.id: tuple(c.id for c in q.cells) for q in questionnaire.quotas} if questionnaire else {}
    try:
        values, targets, status = fieldwork_settings.parse_changes(changes, quota_cells)
    except SettingsError as exc:
        raise StudyError([str(exc)]) from None
    merged = dict(study.settings or {})
    merged.update(values)
    effective = fieldwork_settings.effective(study.purpose, merged)
    problems = []
    if effective["calling_profile"] == "custom" and not effective.get("calling_windows"):
        problems.append("calling_windows: the custom profile needs calling_windows")
    if effective.get("aapor_e") is not None and not (effective.get("aapor_e_basis") or "").strip():
        problems.append("aapor_e_basis: a supervisor's e needs its stated basis (AAPOR: report how e was estimated)")
    if status == StudyStatus.FIELD.value and study.current_version is None:
        problems.append("status: a study needs a questionnaire before fieldwork")
    problems += quotas.mode_problems(questionnaire, values)
    problems += _outcome_table_problems(session, study, effective)
    if problems:
        raise StudyError(problems)
    if targets:
        quota_targets = {k: dict(v) for k, v in merged.get("quota_targets", {}).items()}
        for quota, cells in targets.items():
            quota_targets.setdefault(quota, {}).update(cells)
        merged["quota_targets"] = quota_targets
    before = {"status": study.status, **{k: (study.settings or {}).get(k) for k in values}}
    # Nothing above changed the study: a refused change leaves it exactly as it was.
    study.settings = merged
    if status is not None:
        study.status = status
    if "legal_basis" in values and values["legal_basis"] != before.get("legal_basis"):
        refresh_legal_blocks(session, study, effective["legal_basis"])
    cells = []
    if targets or status is not None or any(k.startswith("quota") for k in values):
        # counters take the new targets and modes under their row locks; held cases follow
        cells = quotas.sync_cells(session, study, actor_id=actor_id, record=False)
    audit.record(session, "study.settings", user_id=actor_id, study_id=study.id, target=f"study:{study.slug}",
                 details={"changes": dict(changes), "before": before, **({"quota_cells": cells} if cells else {})})


def _outcome_table_problems(session: Session, study: Study, effective: dict[str, Any]) -> list[str]:
    """The study's outcome table after a change must be consistent, and must still have every
    code its attempts and cases were recorded with (their dispositions are worked out from it)."""
    try:
        table = customise(fieldwork_settings.outcome_overrides(effective))
    except ValueError as exc:
        return [str(exc)]
    try:
        before = set(customise(fieldwork_settings.outcome_overrides(
            fieldwork_settings.effective(study.purpose, study.settings or {}))))
    except ValueError:  # a table stored before a rule existed: nothing to compare with
        before = set()
    removed = sorted(before - set(table))
    if not removed:
        return []
    used = sorted(set(session.scalars(select(Attempt.outcome).where(Attempt.study_id == study.id,
                                                                    Attempt.outcome.in_(removed)).distinct())))
    return [f"outcome {code}: attempts were recorded with it; it cannot be removed (change its labels instead)"
            for code in used]


def refresh_legal_blocks(session: Session, study: Study, legal_basis: str) -> None:
    """Block or release the study's open cases after its legal basis changed.

    The same rule as at import (``calling_rules.legal_basis_reason``), as two set-based updates so
    a study of a million cases is re-evaluated without loading it.
    """
    from sqlalchemy import and_, not_, update

    from cati.models import Case

    open_cases = and_(Case.study_id == study.id, Case.state.in_(("ready", "blocked")))
    if legal_basis != "consent":
        session.execute(update(Case).where(open_cases, Case.block_kind == "legal")
                        .values(state="ready", block_kind="", block_reason="")
                        .execution_options(synchronize_session=False))
        return
    lacking = and_(open_cases, Case.block_kind == "", Case.consent_at.is_(None))
    for condition, reason in (
        (and_(Case.person_type == "business", not_(Case.customer)),
         legal_basis_reason("consent", "business", False, None, purpose=study.purpose)),
        (Case.person_type != "business",
         legal_basis_reason("consent", "private", False, None, purpose=study.purpose)),
    ):
        session.execute(update(Case).where(lacking, condition)
                        .values(state="blocked", block_kind="legal", block_reason=(reason or "")[:300])
                        .execution_options(synchronize_session=False))


def assign_member(session: Session, study: Study, user: User, actor_id: int | None = None) -> None:
    if user.role not in MEMBER_ROLES:
        raise StudyError([f"user {user.username!r}: role {user.role} is not assigned to studies"])
    if session.get(StudyMember, (study.id, user.id)) is None:
        session.add(StudyMember(study_id=study.id, user_id=user.id))
        audit.record(session, "study.assign", user_id=actor_id, study_id=study.id, target=f"user:{user.id}")


def remove_member(session: Session, study: Study, user: User, actor_id: int | None = None) -> None:
    member = session.get(StudyMember, (study.id, user.id))
    if member is not None:
        session.delete(member)
        audit.record(session, "study.unassign", user_id=actor_id, study_id=study.id, target=f"user:{user.id}")


def studies_visible_to(user: User) -> Select[tuple[Study]]:
    """The studies a user may see: all for admins and researchers, their client's for clients,
    assigned ones for supervisors and interviewers."""
    query = select(Study).order_by(Study.created_at.desc(), Study.id.desc())
    if user.role in (Role.ADMIN, Role.RESEARCHER):
        return query
    if user.role == Role.CLIENT:
        # "client_id = NULL" would be "IS NULL": every study without a client
        return query.where(Study.client_id == user.client_id) if user.client_id is not None else query.where(false())
    return query.join(StudyMember, StudyMember.study_id == Study.id).where(StudyMember.user_id == user.id)


def is_member(session: Session, study: Study, user: User) -> bool:
    return session.get(StudyMember, (study.id, user.id)) is not None


def describe_settings(study: Study) -> dict[str, Any]:
    return fieldwork_settings.effective(study.purpose, study.settings or {})
