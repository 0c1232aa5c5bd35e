"""Route factories: the contexts views run on, each with the ACL that decides who may do what.

The ACLs are the single place where roles meet permissions; views only name a permission.
"""

from __future__ import annotations

from typing import Any

from pyramid.authorization import DENY_ALL, Allow, Authenticated
from pyramid.httpexceptions import HTTPNotFound

from cati.models import Role, Study
from cati.services.studies import get_study

from .security import Permission

P = Permission


class RootFactory:
    """Application-wide permissions, granted by role."""

    __acl__ = (
        (Allow, f"role:{Role.ADMIN}", (P.APP_USE, P.STUDY_CREATE, P.STUDY_LIST, P.USER_CREATE, P.USER_LIST)),
        (Allow, f"role:{Role.RESEARCHER}", (P.APP_USE, P.STUDY_CREATE, P.STUDY_LIST, P.USER_LIST)),
        (Allow, Authenticated, P.APP_USE),
        DENY_ALL,
    )

    def __init__(self, request: Any) -> None:
        self.request = request


#: What admins and researchers may do on every study.
STUDY_STAFF_PERMISSIONS = (P.STUDY_VIEW, P.STUDY_MANAGE, P.STUDY_SUPERVISE)


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
                acl.append((Allow, f"user:{member.user_id}", (P.STUDY_VIEW, P.STUDY_SUPERVISE)))
            elif member.user.role == Role.INTERVIEWER:
                acl.append((Allow, f"user:{member.user_id}", P.STUDY_INTERVIEW))
        if study.client_id is not None:
            acl.append((Allow, f"client:{study.client_id}", P.STUDY_VIEW))
        acl.append(DENY_ALL)
        return acl
