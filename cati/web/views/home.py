"""The start page: what each role works on."""

from __future__ import annotations

from typing import Any

from pyramid.view import view_config

from cati.models import Role, StudyStatus
from cati.services.studies import studies_visible_to

from ..security import Permission
from .console import start_page


@view_config(route_name="home", request_method="GET", renderer="home.jinja2", permission=Permission.APP_USE)
def home(request: Any) -> dict[str, Any]:
    user = request.identity
    studies = list(request.dbsession.scalars(studies_visible_to(user)))
    if user.role == Role.INTERVIEWER:
        # Interviewers only work on studies in fieldwork; drafts and paused ones are not theirs yet.
        studies = [s for s in studies if s.status == StudyStatus.FIELD]
        return {"studies": studies, **start_page(request)}
    return {"studies": studies}
