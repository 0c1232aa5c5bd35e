"""The interviewer console: next case, the case screen (contact panel, interview, call outcome,
contact corrections), inbound look-up, heartbeat.

Every screen is rendered here; every change is a POST with the CSRF token that redirects (303)
to the GET of the case screen, so a reload never submits twice and a reload, crash or lost
connection comes back to the same question. The interview's steps (answer, back, language) have a
second mode for console.js: a POST with the header ``X-Cati-Inline: 1`` (sent only by its
``fetch``) is answered with the next screen itself, the page the GET would render, plus the case
URL in ``X-Cati-Location`` for the address bar: one request per answer instead of two.

Forms that change the interview carry its ``revision``: a tab that is behind (a second window, a
double submit) is refused with :class:`~cati.services.interviews.StaleInterview`, whose exception
view aborts the transaction (pyramid_tm) and shows the current question again with a message (in
both modes by a redirect, so console.js then loads the case screen).

Whether the case is the interviewer's *right now* (claimed by them) is checked on every request;
the permission (``case:interview``) only says they work on the study.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime, format_time
from babel.numbers import format_decimal
from markupsafe import Markup
from pyramid.httpexceptions import HTTPSeeOther
from pyramid.renderers import render
from pyramid.settings import asbool
from pyramid.view import exception_view_config, view_config, view_defaults
from zope.sqlalchemy import mark_changed

from cati.models import Interview, User
from cati.models.meta import utcnow
from cati.questionnaires.engine import Ended, Engine, EngineError, Screen
from cati.questionnaires.render import format_number
from cati.questionnaires.state import State
from cati.sampling.dispositions import Outcome
from cati.services import console, interviews
from cati.services.console import ConsoleError
from cati.services.interviews import InterviewError, StaleInterview
from cati.services.scheduler import OutcomeError, heartbeat, interviewer_studies, next_case, next_opening, rules_for

from .. import work
from ..i18n import _
from ..rendering import DISPLAY_TIMEZONE
from ..resources import parse_id
from ..security import Permission
from .console_forms import Entered, entered_from_existing, parse_submission

#: Messages for the service's refusal reasons, by field (``*`` = any field).
REASONS = {
    ("*", "invalid"): _("Not a valid phone number (${detail})."),
    ("*", "dnc"): _("This number is on the do-not-call list."),
    ("*", "duplicate"): _("The case has this number already."),
    ("*", "erased"): _("The contact data of this case has been erased."),
    ("*", "too_long"): _("At most 200 characters."),
    ("outcome", "not_allowed"): _("Please choose an outcome."),
    ("outcome", "not_started"): _("Break-off is only possible once the interview has started."),
    ("note", "missing"): _("This outcome needs a note."),
    ("appointment_date", "missing"): _("Please enter the date (in the respondent's time zone)."),
    ("appointment_time", "missing"): _("Please enter the time as HH:MM (in the respondent's time zone)."),
    ("appointment_at", "refused"): _("This appointment is not possible: ${detail}"),
    ("phone_position", "missing"): _("Please choose the number you dialled."),
    ("case", "not_yours"): _("This case is no longer yours."),
    ("case", "busy"): _("Please finish your open case first."),
    ("case", "claimed"): _("Someone else is calling this case right now."),
    ("case", "final"): _("This case is closed (final outcome)."),
    ("case", "dnc"): _("This number is on the do-not-call list."),
    ("case", "blocked"): _("This case is blocked; please ask your supervisor."),
    ("case", "not_in_field"): _("The study is not in field."),
    ("case", "not_looked_up"): _("Open a case for a caller through the look-up by their number."),
}
#: The request header with which console.js asks for the next screen instead of a redirect, and
#: the response header that tells it the case screen's URL.
INLINE_HEADER, LOCATION_HEADER = "X-Cati-Inline", "X-Cati-Location"
#: How often page loads renew a claim's heartbeat.
HEARTBEAT_EVERY = dt.timedelta(seconds=60)
#: Engines by questionnaire version (id, checksum); versions are immutable.
#: Outcome groups on the outcome panel, in this order.
OUTCOME_GROUPS = (
    ("not_reached", _("Not reached")),
    ("number", _("Number")),
    ("reached", _("Reached")),
)


def now_utc() -> dt.datetime:
    """The moment every service call of a request uses (one place for tests to set the clock)."""
    return utcnow()


#: Session key: the case ids the interviewer's last inbound look-up found.
INBOUND_KEY = "cati.inbound_cases"


def error_message(request: Any, field: str, reason: str, detail: str = "") -> str:
    message = REASONS.get((field, reason)) or REASONS.get(("*", reason)) or _("Please check this entry.")
    return request.localizer.translate(_(message, mapping={"detail": detail}))


def outcome_label(request: Any, outcome: Outcome | None, code: str) -> str:
    if outcome is None:
        return code
    return outcome.label_de if request.locale_name == "de" else outcome.label_en


def outcome_group(outcome: Outcome) -> str:
    if outcome.contacted:
        return "reached"
    if outcome.eligible is False:
        return "number"
    return "not_reached"


def settings_of(request: Any) -> tuple[str, int]:
    settings = request.registry.settings
    return settings.get("cati.dnc_salt", "cati-dnc"), int(settings.get("cati.claim_timeout_seconds", 1800))


def formatters(request: Any, tz: Any = DISPLAY_TIMEZONE) -> dict[str, Any]:
    """Times in ``tz`` (the respondent's zone on the case screen), numbers in the UI language."""
    locale = request.locale_name
    return {
        "fmt_clock": lambda moment: format_time(moment, "short", tzinfo=tz, locale=locale),
        "fmt_local": lambda moment: "{} {}".format(
            format_date(moment.astimezone(tz), "EEE", locale=locale),
            format_datetime(moment, "short", tzinfo=tz, locale=locale)),
        "fmt_num": lambda value: format_number(value, locale),
        "fmt_rate": lambda value: format_decimal(value, "0.0", locale=locale),
    }


_KEY_HELP: dict[tuple[str, str], Markup] = {}


def key_help(request: Any, phase: str) -> Markup:
    """The key list under the case screens. It is the same for every case of a language and phase,
    and a dozen translated lines cost a noticeable share of a page: rendered once per process
    (unless templates are reloaded, in development)."""
    cached = _KEY_HELP.get((request.locale_name, phase))
    if cached is None:
        cached = Markup(render("console/_keys.jinja2", {"phase": phase}, request=request))  # noqa: S704 - our template
        if not asbool(request.registry.settings.get("pyramid.reload_templates", False)):
            _KEY_HELP[(request.locale_name, phase)] = cached
    return cached


def flash(request: Any, message: Any, queue: str = "success") -> None:
    request.session.flash(request.localizer.translate(message), queue)


def case_url(request: Any, case_id: int) -> str:
    return request.route_url("console.case", case_id=case_id)


def deliver_next(request: Any, study_id: str | None = None) -> HTTPSeeOther:
    """Claim the next case for the interviewer and go to it (or back to the start page)."""
    session, user = request.dbsession, request.identity
    held = console.claimed_case(session, user)
    if held is not None:
        flash(request, _("You still have case ${ref} open: please finish it first.", mapping={"ref": held.ref}),
              "error")
        return HTTPSeeOther(case_url(request, held.id))
    studies = None
    if study_id:
        studies = [s for s in interviewer_studies(session, user) if str(s.id) == study_id]
        if not studies:
            flash(request, _("This study is not in field or not assigned to you."), "error")
            return HTTPSeeOther(request.route_url("home"))
    _salt, timeout = settings_of(request)
    work.keep(request, now_utc())
    delivery = next_case(session, user, now=now_utc(), studies=studies, claim_timeout=timeout)
    # The scheduler claims with a textual UPDATE, which zope.sqlalchemy does not notice; without
    # this the request's transaction would end in a rollback and the claim would be lost.
    mark_changed(session)
    if delivery is None:
        flash(request, no_case_message(request, studies), "error")
        return HTTPSeeOther(request.route_url("home"))
    return HTTPSeeOther(case_url(request, delivery.case.id))


def no_case_message(request: Any, studies: list[Any] | None) -> str:
    """Why "Next case" found nothing, and when calling hours let calls start again if they are the
    reason (the interviewer should not try every few minutes all night)."""
    session, now = request.dbsession, now_utc()
    studies = studies if studies is not None else interviewer_studies(session, request.identity)
    if not any(study.status == "field" for study in studies):
        return _("None of your studies is in field.")
    opening = next_opening(session, studies, now)
    if opening is not None and opening > now:
        return _("Outside calling hours: no respondent of your studies may be called now. "
                 "Calls may start again on ${when} (German time).",
                 mapping={"when": formatters(request)["fmt_local"](opening)})
    return _("No case can be called right now (appointments, retry times, or the sample is used up). "
             "Please try again in a few minutes.")


def start_page(request: Any) -> dict[str, Any]:
    """What the interviewer's start page shows besides the studies: the open case, if any, and
    today's figures."""
    session, user = request.dbsession, request.identity
    return {
        "held_case": console.claimed_case(session, user),
        "stats": console.today_stats(session, user, now=now_utc(), tz=str(DISPLAY_TIMEZONE)),
        **formatters(request),
    }


@view_config(route_name="console.next", request_method="POST", permission=Permission.CONSOLE_USE)
def next_case_view(request: Any) -> HTTPSeeOther:
    return deliver_next(request, request.POST.get("study") or None)


@view_config(route_name="console.lookup", request_method="GET", renderer="console/lookup.jinja2",
             permission=Permission.CONSOLE_USE)
def lookup(request: Any) -> dict[str, Any]:
    """Inbound: a respondent calls back; find their case by the number they call from."""
    phone = request.GET.get("phone", "").strip()
    matches: list[console.InboundMatch] = []
    error = None
    if phone:
        try:
            matches = console.find_by_phone(request.dbsession, request.identity, phone)
        except ConsoleError as exc:
            error = error_message(request, "phone", exc.reason, exc.detail)
            request.response.status_int = 422
    refusals = {m.case_id: error_message(request, "case", m.refusal) for m in matches
                if m.refusal not in (None, "yours")}
    # Only the cases this look-up found may be opened as inbound calls: the claim bypasses the
    # scheduler (and the calling hours), so it must not accept just any case id of the study.
    if phone:
        request.session[INBOUND_KEY] = [m.case_id for m in matches]
    return {"phone": phone, "matches": matches, "error": error, "refusals": refusals}


@exception_view_config(StaleInterview)
def stale_interview(exc: StaleInterview, request: Any) -> HTTPSeeOther:
    """A save based on an old revision: nothing was stored (the transaction is aborted because
    this is an exception view); show the current question again with a clear message."""
    flash(request, _("This interview was continued in another window or tab. The current question is shown "
                     "here again; please close the other window."), "error")
    case_id = (request.matchdict or {}).get("case_id")
    return HTTPSeeOther(case_url(request, case_id) if case_id else request.route_url("home"))


@view_defaults(permission=Permission.CASE_INTERVIEW, renderer="console/case.jinja2")
class CaseViews:
    def __init__(self, context: Any, request: Any) -> None:
        self.context, self.request = context, request
        self.case, self.study = context.case, context.study
        self.session, self.user = request.dbsession, request.identity
        self.translate = request.localizer.translate
        self.now = now_utc()

    # -- helpers ------------------------------------------------------------------------------
    @property
    def mine(self) -> bool:
        return self.case.state == "claimed" and self.case.claimed_by == self.user.id

    def keep_alive(self) -> None:
        """Page loads keep the claim alive (console.js also beats every minute), so the release
        of stale claims never takes a case from an interviewer who is working on it. A page load
        within a minute of the last beat writes nothing: the claim times out after 30 minutes."""
        last = self.case.heartbeat_at
        if last is None or self.now - last >= HEARTBEAT_EVERY or self.now < last:
            heartbeat(self.session, self.case, self.user, now=self.now)

    def back_to_case(self) -> HTTPSeeOther:
        return HTTPSeeOther(case_url(self.request, self.case.id))

    @property
    def inline(self) -> bool:
        """console.js posted the form with ``fetch`` and wants the next screen in the response."""
        return self.request.headers.get(INLINE_HEADER) == "1"

    def to_case(self, interview: Interview | None = None, screen: Screen | Ended | None = None) -> Any:
        """After an interview step: the redirect to the case screen (Post/Redirect/Get), or for
        console.js (:attr:`inline`) the next screen itself, with the case URL in
        ``X-Cati-Location``: the next question alone (:meth:`step`) while the interview runs, else
        the page :meth:`show` renders now (the end text once the step ended the interview)."""
        if not self.inline:
            return self.back_to_case()
        if interview is not None and interview.status == "active":
            if screen is None:
                screen = self.current_screen(interview)
            if isinstance(screen, Screen):
                return self.step(interview, screen)
        self.request.response.headers[LOCATION_HEADER] = case_url(self.request, self.case.id)
        return self.show(interview, screen if isinstance(screen, Screen) else None)

    def step(self, interview: Interview, screen: Screen, *, entered: Entered | None = None, errors: Any = (),
             soft: Any = (), status: int = 200) -> dict[str, Any]:
        """console.js's answer to a step of a running interview: messages, progress and the
        question (``console/step.jinja2``), not the whole case page. The contact panel, case bar
        and key help on the interviewer's page do not change from one question to the next, and
        rendering them (with the contact panel's queries) was half of a step's server time."""
        request = self.request
        self.keep_alive()
        request.response.status_int = status
        request.response.headers[LOCATION_HEADER] = case_url(request, self.case.id)
        request.override_renderer = "console/step.jinja2"
        return {"case": self.case, "study": self.study,
                **self.interview_part(interview, screen, entered=entered, errors=errors, soft=soft),
                **formatters(request)}

    def unavailable(self) -> dict[str, Any]:
        """409: the case is someone else's, or no longer this interviewer's."""
        self.request.response.status_int = 409
        self.request.override_renderer = "console/unavailable.jinja2"
        holder = None
        if self.case.state == "claimed" and self.case.claimed_by is not None:
            holder = self.session.get(User, self.case.claimed_by)
        return {"case": self.case, "study": self.study, "holder": holder}

    def revision(self) -> int | None:
        """The form's revision; None without one (an old form); -1, never current, for one that
        cannot be a revision (the form is then stale, not unguarded)."""
        raw = self.request.POST.get("revision", "")
        if not raw:
            return None
        value = parse_id(raw)
        return -1 if value is None else value

    def interview(self) -> Interview | None:
        return console.interview_of(self.session, self.case)

    def engine(self, interview: Interview) -> Engine:
        return interviews.engine_of(self.session, interview.version_id)

    def current_screen(self, interview: Interview) -> Screen | Ended:
        """The screen the interview's stored state is at."""
        return self.engine(interview).screen(State.from_dict(interview.state))

    def ended_page(self) -> dict[str, Any] | None:
        """After the last answer the case is released; its interviewer still sees the end text
        (to read out) and what came of the call."""
        interview = self.interview()
        if interview is None or interview.status not in ("complete", "ended"):
            return None
        last = console.last_attempt(self.session, self.case.id)
        if last is None or last.user_id != self.user.id:
            return None
        ended = self.current_screen(interview)
        self.request.override_renderer = "console/ended.jinja2"
        outcome = rules_for(self.study).outcomes.get(last.outcome)
        return {"case": self.case, "study": self.study, "ended": ended, "interview": interview,
                "outcome": outcome_label(self.request, outcome, last.outcome),
                "stats": console.today_stats(self.session, self.user, now=self.now, tz=str(DISPLAY_TIMEZONE)),
                **formatters(self.request)}

    def base(self, *, history: bool, status: int = 200, form: dict[str, str] | None = None) -> dict[str, Any]:
        """What every case page shows: the case, its study and contact panel, the formatters."""
        request, case = self.request, self.case
        request.response.status_int = status
        panel = console.contact_panel(self.session, case, now=self.now, history=history)
        outcomes = rules_for(self.study).outcomes
        zone = ZoneInfo(panel.tz)
        return {
            "case": case,
            "study": self.study,
            "panel": panel,
            "form": form or {},
            "contact_errors": {},
            "outcome_label": lambda code: outcome_label(request, outcomes.get(code), code),
            "region_name": panel.region_name(request.locale_name),
            "appointment_today": self.now.astimezone(zone).date().isoformat(),
            "key_help": "",
            **formatters(request, zone),
        }

    def outcome_part(self, interview: Interview | None, errors: dict[str, str] | None = None) -> dict[str, Any]:
        """The outcome form: the interviewer's outcomes in groups, numbered for the keyboard
        (break-off only while an interview runs)."""
        running = interview is not None and interview.status == "active"
        choosable = [o for o in console.interviewer_outcomes(self.study) if running or o.code != "break_off"]
        groups = []
        for key, title in OUTCOME_GROUPS:
            members = [o for o in choosable if outcome_group(o) == key]
            if members:
                groups.append((self.translate(title), members))
        order = [o.code for _title, members in groups for o in members]
        return {
            "revision": interview.revision if interview is not None else "",
            "outcome_groups": groups,
            "outcome_number": {code: i + 1 for i, code in enumerate(order)},
            "outcome_errors": errors or {},
        }

    def page(self, *, interview: Interview | None = None, screen: Screen | Ended | None = None,
             entered: Entered | None = None, errors: Any = (), soft: Any = (), status: int = 200) -> dict[str, Any]:
        """The case screen: before the interview the contact panel, the introduction and the
        outcome form; during it the question with a compact contact panel beside it."""
        interview = interview if interview is not None else self.interview()
        if interview is None or interview.status != "active":
            return {
                **self.base(history=True, status=status),
                **self.outcome_part(interview),
                "phase": "contact",
                "key_help": key_help(self.request, "contact"),
                "progress": None,
                "interview": interview,
                "intro": console.introduction(self.session, self.case, self.user, now=self.now)
                if interview is None else None,
                "resume": interview is not None and interview.status == "broken_off",
            }
        if screen is None:
            screen = self.current_screen(interview)
        return {
            **self.base(history=False, status=status),
            "key_help": key_help(self.request, "interview"),
            **self.interview_part(interview, screen, entered=entered, errors=errors, soft=soft),
        }

    def interview_part(self, interview: Interview, screen: Screen | Ended, *, entered: Entered | None = None,
                       errors: Any = (), soft: Any = ()) -> dict[str, Any]:
        """What the question part of the case screen shows (the whole page and a step's)."""
        engine = self.engine(interview)
        progress = None
        focus_code = None  # the option that gets the focus: the one chosen, else the first
        if isinstance(screen, Screen):
            index = engine.flow.by_id.get(screen.node_id, 0)
            progress = min(99, round(100 * index / max(1, len(engine.flow.nodes))))
            entered = entered if entered is not None else entered_from_existing(screen)
            if screen.options:
                chosen = [o.code for o in screen.options if str(o.code) in entered.chosen]
                focus_code = chosen[0] if chosen else screen.options[0].code
        return {
            "phase": "interview",
            "interview": interview,
            "revision": interview.revision,
            "screen": screen,
            "entered": entered or Entered(),
            "focus_code": focus_code,
            "errors": {m.key: m.message for m in errors},
            "general_errors": [m.message for m in errors if isinstance(screen, Screen)
                               and m.key not in _field_keys(screen)],
            "soft": list(soft),
            "progress": progress,
            "interview_languages": list(engine.questionnaire.languages),
        }

    def outcome_page(self, *, status: int = 200, errors: dict[str, str] | None = None,
                     form: dict[str, str] | None = None) -> dict[str, Any]:
        self.request.override_renderer = "console/outcome.jinja2"
        interview = self.interview()
        return {**self.base(history=True, status=status, form=form), **self.outcome_part(interview, errors),
                "phase": "outcome", "interview": interview, "key_help": key_help(self.request, "outcome")}

    def contact_page(self, *, status: int = 200, errors: dict[str, str] | None = None,
                     form: dict[str, str] | None = None) -> dict[str, Any]:
        self.request.override_renderer = "console/contact.jinja2"
        return {**self.base(history=True, status=status, form=form), "phase": "details",
                "contact_errors": errors or {}}

    # -- the screen ---------------------------------------------------------------------------
    @view_config(route_name="console.case", request_method="GET")
    def show(self, interview: Interview | None = None, screen: Screen | None = None) -> Any:
        """The case screen (``interview``, ``screen``: the case's and its current screen, when the
        caller has them at hand already)."""
        if not self.mine:
            return self.ended_page() or self.unavailable()
        self.keep_alive()
        return self.page(interview=interview, screen=screen)

    @view_config(route_name="console.heartbeat", request_method="POST", renderer="json")
    def beat(self) -> dict[str, Any]:
        ok = self.mine and heartbeat(self.session, self.case, self.user, now=self.now)
        work.keep(self.request, self.now)
        if not ok:
            self.request.response.status_int = 409
        return {"ok": ok}

    @view_config(route_name="console.claim", request_method="POST")
    def claim(self) -> Any:
        """Inbound: open a case the respondent called in about (found by the last look-up)."""
        offered = self.request.session.get(INBOUND_KEY) or []
        if self.case.id not in offered:
            flash(self.request, error_message(self.request, "case", "not_looked_up"), "error")
            return HTTPSeeOther(self.request.route_url("console.lookup"))
        try:
            console.claim_for_inbound(self.session, self.case, self.user, now=self.now)
        except ConsoleError as exc:
            flash(self.request, error_message(self.request, "case", exc.reason), "error")
            return HTTPSeeOther(self.request.route_url("console.lookup"))
        return self.back_to_case()

    @view_config(route_name="console.start", request_method="POST")
    def start(self) -> Any:
        """The respondent is on the line: start the interview, or resume it where it stopped."""
        if not self.mine:
            return self.unavailable()
        interview = self.interview()
        if interview is not None and self.revision() not in (None, interview.revision):
            raise StaleInterview("stale start")
        try:
            interviews.open_for_case(self.session, self.case, self.user, now=self.now)
        except InterviewError as exc:
            self.request.session.flash(str(exc), "error")
        return self.back_to_case()

    # -- the interview ------------------------------------------------------------------------
    def running_interview(self) -> Interview | None:
        interview = self.interview()
        if interview is None or interview.status != "active":
            return None
        return interview

    @view_config(route_name="console.answer", request_method="POST")
    def answer(self) -> Any:
        if not self.mine:
            return self.unavailable()
        interview = self.running_interview()
        if interview is None:
            return self.to_case()
        revision = self.revision()
        if revision != interview.revision:
            raise StaleInterview("stale answer")  # (a form always carries the revision)
        post = self.request.POST
        kind, key = post.get("type", ""), post.get("key", "")
        submission = parse_submission(kind, post)
        try:
            if kind == "info":
                result = interviews.forward(self.session, interview, self.user, confirm_soft=submission.confirm,
                                            revision=revision, now=self.now)
            else:
                result = interviews.answer(self.session, interview, self.user, key, submission.value,
                                           others=submission.others, confirm_soft=submission.confirm,
                                           revision=revision, now=self.now)
        except EngineError:
            # The form was for another screen than the current one (or an ended interview).
            raise StaleInterview("the form was for another screen") from None
        if result.accepted:
            return self.to_case(interview, result.screen)
        if self.inline and isinstance(result.screen, Screen):
            return self.step(interview, result.screen, entered=submission.entered, errors=result.errors,
                             soft=result.soft, status=422)
        return self.page(interview=interview, screen=result.screen, entered=submission.entered,
                         errors=result.errors, soft=result.soft, status=422)

    @view_config(route_name="console.back", request_method="POST")
    def back(self) -> Any:
        if not self.mine:
            return self.unavailable()
        interview = self.running_interview()
        if interview is None:
            return self.to_case()
        try:
            screen = interviews.back(self.session, interview, self.user, self.request.POST.get("to") or None,
                                     revision=self.revision(), now=self.now)
        except EngineError:
            raise StaleInterview("no such screen to go back to") from None
        return self.to_case(interview, screen)

    @view_config(route_name="console.language", request_method="POST")
    def language(self) -> Any:
        if not self.mine:
            return self.unavailable()
        interview = self.running_interview()
        if interview is None:
            return self.to_case()
        screen = None
        try:
            screen = interviews.set_language(self.session, interview, self.request.POST.get("lang", ""),
                                             revision=self.revision())
        except EngineError:
            flash(self.request, _("The questionnaire is not available in this language."), "error")
        return self.to_case(interview, screen)

    # -- ending the call ----------------------------------------------------------------------
    @view_config(route_name="console.outcome", request_method="GET")
    def outcome_form(self) -> Any:
        """The outcome form on its own page (during an interview: key O)."""
        if not self.mine:
            return self.unavailable()
        self.keep_alive()
        return self.outcome_page()

    @view_config(route_name="console.outcome", request_method="POST")
    def outcome(self) -> Any:
        if not self.mine:
            return self.unavailable()
        request, post = self.request, self.request.POST
        interview = self.interview()
        revision = self.revision()
        if interview is not None and revision is not None and revision != interview.revision:
            raise StaleInterview("stale outcome")
        form = {k: post.get(k, "") for k in ("outcome", "note", "appointment_date", "appointment_time",
                                             "phone_position")}
        code = form["outcome"]
        errors: dict[str, str] = {}
        appointment_at = None
        if not code:
            errors["outcome"] = error_message(request, "outcome", "not_allowed")
        elif code.startswith("appointment"):
            try:
                appointment_at = console.appointment_time(self.case.zone.tz, form["appointment_date"],
                                                          form["appointment_time"])
            except ConsoleError as exc:
                errors[exc.field] = error_message(request, exc.field, exc.reason)
        if not errors:
            salt, _timeout = settings_of(request)
            position = parse_id(form["phone_position"]) or 1
            try:
                console.record_call_outcome(self.session, self.case, self.user, code, note=form["note"].strip(),
                                            appointment_at=appointment_at, phone_position=position,
                                            now=self.now, dnc_salt=salt)
            except ConsoleError as exc:
                errors[exc.field] = error_message(request, exc.field, exc.reason, exc.detail)
            except OutcomeError as exc:
                reason = "missing" if exc.field == "note" else ("refused" if exc.field == "appointment_at"
                                                                else "not_allowed")
                errors[exc.field] = error_message(request, exc.field, reason, str(exc).split(": ", 1)[-1])
        if errors:
            return self.outcome_page(status=422, errors=errors, form=form)
        label = outcome_label(request, rules_for(self.study).outcomes.get(code), code)
        flash(request, _("Case ${ref}: ${outcome} saved.", mapping={"ref": self.case.ref, "outcome": label}))
        if post.get("then") == "next":
            return deliver_next(request)
        return HTTPSeeOther(request.route_url("home"))

    # -- contact data -------------------------------------------------------------------------
    @view_config(route_name="console.contact", request_method="GET")
    def contact_form(self) -> Any:
        """Contact data, previous calls and the correction form on their own page."""
        if not self.mine:
            return self.unavailable()
        self.keep_alive()
        return self.contact_page()

    @view_config(route_name="console.contact", request_method="POST")
    def contact(self) -> Any:
        if not self.mine:
            return self.unavailable()
        post = self.request.POST
        phones = {position: value for name, value in post.items()
                  if name.startswith("phone-") and (position := parse_id(name[len("phone-"):])) is not None}
        salt, _timeout = settings_of(self.request)
        try:
            changes = console.correct_contact(self.session, self.case, self.user, name=post.get("name"),
                                              phones=phones, add_phone=post.get("add_phone", ""), dnc_salt=salt)
        except ConsoleError as exc:
            form = {k: v for k, v in post.items() if k != "csrf_token"}
            return self.contact_page(status=422, form=form, errors={
                exc.field: error_message(self.request, exc.field, exc.reason, exc.detail)})
        flash(self.request, _("Contact data saved.") if changes else _("Nothing was changed."))
        return self.back_to_case()


def _field_keys(screen: Screen) -> set[str]:
    keys = {screen.key, *(row.key for row in screen.rows)}
    keys.update(o.other_key for o in screen.options if o.other_key)
    return keys
