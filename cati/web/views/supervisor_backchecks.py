"""Back-checks for supervisors: the share to check, drawing, the list of checks per interviewer,
and recording a result (a failed check may invalidate its interview). Through
:mod:`cati.services.backchecks`, which audits every draw and result."""

from __future__ import annotations

from typing import Any

from pyramid.httpexceptions import HTTPNotFound, HTTPSeeOther
from pyramid.view import view_config, view_defaults

from cati.models.backcheck import BACKCHECK_STATUSES
from cati.services import backchecks
from cati.services.backchecks import BackcheckError

from ..i18n import _
from ..resources import StudyContext, parse_id
from ..security import Permission
from .studies import attempt
from .supervisor import SupervisorPage

STATUS_LABELS = {"pending": _("to check"), "passed": _("confirmed"), "failed": _("failed")}


@view_defaults(renderer="supervisor/backchecks.jinja2", permission=Permission.STUDY_SUPERVISE)
class BackcheckViews(SupervisorPage):
    def __init__(self, context: StudyContext, request: Any) -> None:
        super().__init__(context, request)

    def page(self, status: int = 200, **extra: Any) -> dict[str, Any]:
        self.request.response.status_int = status
        wanted = self.request.GET.get("status", "")
        wanted = wanted if wanted in BACKCHECK_STATUSES else ""
        session = self.request.dbsession
        data = self.base(
            share=backchecks.share_for(self.study),
            overview=backchecks.overview(session, self.study),
            checks=backchecks.checks(session, self.study, status=wanted or None),
            status_filter=wanted,
            statuses=[(s, self.translate(STATUS_LABELS[s])) for s in BACKCHECK_STATUSES],
            status_labels={k: self.translate(v) for k, v in STATUS_LABELS.items()},
            problems=[],
            problem_form=None,
        )
        data.update(extra)
        return data

    def refused(self, form: str, problems: list[str]) -> dict[str, Any]:
        return self.page(422, problems=problems, problem_form=form)

    def done(self, message: Any) -> HTTPSeeOther:
        self.request.dbsession.flush()
        self.request.session.flash(self.translate(message), "success")
        return HTTPSeeOther(self.request.route_url("supervisor.backchecks", slug=self.study.slug))

    @view_config(route_name="supervisor.backchecks", request_method="GET")
    def show(self) -> dict[str, Any]:
        return self.page()

    @view_config(route_name="supervisor.backcheck_share", request_method="POST")
    def change_share(self) -> Any:
        raw = self.request.POST.get("percent", "").strip().replace(",", ".").rstrip("%").strip()
        try:
            share = float(raw) / 100
        except ValueError:
            return self.refused("share", [self.translate(_("Give the share in per cent, for example 10."))])
        try:
            attempt(self.request, lambda: backchecks.set_share(self.request.dbsession, self.study, share,
                                                               actor_id=self.actor_id))
        except BackcheckError as exc:
            return self.refused("share", [str(exc)])
        return self.done(_("The share was saved."))

    @view_config(route_name="supervisor.backcheck_draw", request_method="POST")
    def draw(self) -> Any:
        if self.request.POST.get("confirm") != "yes":
            return self.refused("draw", [self.translate(_("Please confirm the draw."))])
        drawn = attempt(self.request, lambda: backchecks.draw(self.request.dbsession, self.study,
                                                              actor_id=self.actor_id))
        return self.done(_("${n} interviews drawn for back-checks.", mapping={"n": len(drawn)}))

    @view_config(route_name="supervisor.backcheck_result", request_method="POST")
    def result(self) -> Any:
        check_id = parse_id(self.request.matchdict["check_id"])
        check = backchecks.get_check(self.request.dbsession, self.study, check_id) if check_id is not None else None
        if check is None:
            raise HTTPNotFound()
        post = self.request.POST
        outcome = post.get("result", "")
        if outcome not in ("passed", "failed"):
            return self.refused(f"check-{check.id}", [self.translate(_("Please choose one of the offered values."))])
        try:
            attempt(self.request, lambda: backchecks.record_result(
                self.request.dbsession, check, passed=outcome == "passed", note=post.get("note", ""),
                invalidate=post.get("invalidate") == "yes", actor_id=self.actor_id))
        except BackcheckError as exc:
            return self.refused(f"check-{check.id}", [str(exc)])
        return self.done(_("The result was recorded."))
