"""Route factories: the contexts views run on, each with the ACL that decides who may do what.

The ACLs are the single place where roles meet permissions; views only name a permission.
"""

from __future__ import annotations

import re
from typing import Any

from pyramid.authorization import DENY_ALL, Allow, Authenticated
from pyramid.httpexceptions import HTTPNotFound
from sqlalchemy import and_, bindparam, select
from sqlalchemy.orm import joinedload

from cati.models import Case, Role, Study, StudyMember
from cati.services.studies import get_study

from .security import Permission

P = Permission

#: A row id in a URL or form: ASCII digits, at most 18 of them. A longer number is no row's id, and
#: handed to the database it overflows the integer type (OverflowError on SQLite): a 500 where a
#: 404 or a refused form is due. ``str.isdigit`` is not enough: it accepts "²", which int() refuses.
ID_PATTERN = "[0-9]{1,18}"
#: Users, studies and the like have 32-bit keys (PostgreSQL ``integer``): more than 9 digits are no
#: id of theirs, and PostgreSQL would refuse the comparison ("integer out of range", a 500).
SMALL_ID_PATTERN = "[0-9]{1,9}"
_ID = re.compile(ID_PATTERN)
_SMALL_ID = re.compile(SMALL_ID_PATTERN)


def parse_id(raw: object) -> int | None:
    """``raw`` (a URL segment, form or query value) as a row id, or None if it cannot be one."""
    text = str(raw)
    return int(text) if _ID.fullmatch(text) else None


def parse_user_id(raw: object) -> int | None:
    """Like :func:`parse_id`, for the 32-bit ids of users."""
    text = str(raw)
    return int(text) if _SMALL_ID.fullmatch(text) else None


class RootFactory:
    """Application-wide permissions, granted by role."""

    __acl__ = (
        (Allow, f"role:{Role.ADMIN}", (P.APP_USE, P.STUDY_CREATE, P.STUDY_LIST, P.USER_CREATE, P.USER_LIST,
                                         P.USER_MANAGE)),
        (Allow, f"role:{Role.RESEARCHER}", (P.APP_USE, P.STUDY_CREATE, P.STUDY_LIST, P.USER_LIST)),
        *((Allow, f"role:{role}", P.PORTAL_USE) for role in (Role.ADMIN, Role.RESEARCHER, Role.SUPERVISOR,
                                                             Role.CLIENT)),
        (Allow, Authenticated, P.APP_USE),
        DENY_ALL,
    )

    def __init__(self, request: Any) -> None:
        self.request = request


#: What admins and researchers may do on every study.
STUDY_STAFF_PERMISSIONS = (P.STUDY_VIEW, P.STUDY_MANAGE, P.STUDY_SUPERVISE, P.STUDY_EXPORT, P.CONTACTS_EXPORT)


class StudyContext:
    """The study named by ``{slug}``; unknown slugs are 404.

    Anonymous visitors get a context that denies everything instead of a 404, so they are sent to
    the login page for any study URL and cannot probe which slugs exist (slugs often name the
    client's product).
    """

    def __init__(self, request: Any) -> None:
        self.request = request
        self.study: Study | None = get_study(request.dbsession, request.matchdict["slug"])
        if self.study is None and request.identity is not None:
            raise HTTPNotFound()

    def __acl__(self) -> list[Any]:
        study = self.study
        if study is None:
            return [DENY_ALL]
        acl: list[Any] = [
            (Allow, f"role:{Role.ADMIN}", STUDY_STAFF_PERMISSIONS),
            (Allow, f"role:{Role.RESEARCHER}", STUDY_STAFF_PERMISSIONS),
        ]
        for member in study.members:
            if member.user.role == Role.SUPERVISOR:
                acl.append((Allow, f"user:{member.user_id}", (P.STUDY_VIEW, P.STUDY_SUPERVISE, P.STUDY_EXPORT)))
            elif member.user.role == Role.INTERVIEWER:
                acl.append((Allow, f"user:{member.user_id}", P.STUDY_INTERVIEW))
        if study.client_id is not None:
            acl.append((Allow, f"client:{study.client_id}", (P.STUDY_VIEW, P.STUDY_EXPORT)))  # never contacts
        acl.append(DENY_ALL)
        return acl


class ConsoleRoot:
    """The interviewer console's own pages (next case, inbound look-up): interviewers only."""

    __acl__ = ((Allow, f"role:{Role.INTERVIEWER}", P.CONSOLE_USE), DENY_ALL)

    def __init__(self, request: Any) -> None:
        self.request = request


#: Built once (its SQL cache key and compiled form are reused).
_CASE_CONTEXT = (
    select(Case, Study, StudyMember.user_id)
    .join(Study, Study.id == Case.study_id)
    .outerjoin(StudyMember, and_(StudyMember.study_id == Case.study_id,
                                 StudyMember.user_id == bindparam("user_id")))
    .options(joinedload(Case.zone))
    .where(Case.id == bindparam("case_id"))
)


class CaseContext(StudyContext):
    """The case named by ``{case_id}`` (404 if unknown), on top of its study's context.

    ``case:interview`` goes to the interviewer members of the case's study; whether the case is
    *theirs right now* (claimed by them) is the console's business, answered with a clear message
    rather than a bare 403. Being a :class:`StudyContext`, a user who has nothing to do with the
    study gets a 404 from the forbidden view, as for study pages.
    """

    def __init__(self, request: Any) -> None:
        self.request = request
        user = request.identity
        # One statement for the case, its zone, its study and whether the user is assigned to it:
        # every console request starts here.
        row = request.dbsession.execute(_CASE_CONTEXT, {
            "case_id": int(request.matchdict["case_id"]), "user_id": user.id if user is not None else 0,
        }).first()
        self.case: Case | None = row[0] if row is not None else None
        self.study = row[1] if row is not None else None
        self._member = (user.id, row[2] is not None) if row is not None and user is not None else None
        if self.case is None and user is not None:
            raise HTTPNotFound()

    def __acl__(self) -> Any:
        # A generator: ACLHelper stops at the first matching entry, so on the console's hot path
        # (an interviewer on their case) the membership loaded with the case decides, and the
        # study's full ACL (which loads every member) is built only for everybody else.
        user = self.request.identity
        if self.interviews_here(user):
            yield (Allow, f"user:{user.id}", (P.CASE_INTERVIEW, P.STUDY_INTERVIEW))
        yield from super().__acl__()

    def interviews_here(self, user: Any) -> bool:
        """Whether ``user`` is an interviewer assigned to the case's study (asked once)."""
        if user is None or user.role != Role.INTERVIEWER or self.study is None:
            return False
        cached = getattr(self, "_member", None)
        if cached is None or cached[0] != user.id:
            member = self.request.dbsession.scalar(select(StudyMember.user_id).where(
                StudyMember.study_id == self.study.id, StudyMember.user_id == user.id)) is not None
            self._member = cached = (user.id, member)
        return cached[1]
