"""Not found, forbidden (or: please log in), and an expired form."""

from __future__ import annotations

from typing import Any

from pyramid.csrf import BadCSRFToken
from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import exception_view_config, forbidden_view_config, notfound_view_config

from ..resources import StudyContext
from ..security import Permission

#: Any of these on a study means the user knows it exists.
STUDY_ACCESS = (Permission.STUDY_VIEW, Permission.STUDY_INTERVIEW, Permission.STUDY_SUPERVISE)


@notfound_view_config(renderer="errors/notfound.jinja2")
def notfound(request: Any) -> Any:
    if request.path.startswith("/static/"):
        # No transaction runs for static files (cati.db's tm.activate_hook), so the page layout,
        # which loads the logged-in user, cannot be rendered; a missing asset needs no layout.
        return HTTPNotFound()
    request.response.status_int = 404
    return {}


@forbidden_view_config(renderer="errors/forbidden.jinja2")
def forbidden(request: Any) -> Any:
    if request.identity is None:
        # Anonymous: log in first, then come back (GET only; a POST cannot be replayed).
        target = request.path_qs if request.method == "GET" else "/"
        return HTTPSeeOther(request.route_url("auth.login", _query={"next": target}))
    context = getattr(request, "context", None)
    if isinstance(context, StudyContext) and not any(
        request.has_permission(permission, context) for permission in STUDY_ACCESS
    ):
        # A study the user has nothing to do with (another client's, say): do not confirm that it
        # exists. Members who lack only this page's permission get the ordinary 403.
        request.response.status_int = 404
        request.override_renderer = "errors/notfound.jinja2"
        return {}
    request.response.status_int = 403
    return {}


@exception_view_config(BadCSRFToken, renderer="errors/csrf.jinja2")
def bad_csrf(request: Any) -> dict[str, Any]:
    request.response.status_int = 400
    return {}
