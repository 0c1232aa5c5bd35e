"""Supervisors run the floor: dashboard, productivity, fieldwork control, cases, back-checks, audit
trail and the dispositions report, through the real pages and forms (CSRF tokens travel with the
forms). Who may open which page is the authorization matrix's business; here: what the pages do."""

from __future__ import annotations

import csv
import datetime as dt
import io
import random

import pytest
from sqlalchemy import select

from cati.models import AuditEvent, BackCheck, Case, QuotaCell, StudyMember, User
from cati.services import backchecks, console, erasure
from tests.fieldwork_seed import add_attempt, add_case, add_interview, make_study, make_user, zone

from .conftest import csrf_token


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def study(world, dbsession):
    """The e-bike study in field, supervised by the world's supervisor, with interviewer Ines."""
    study = make_study(dbsession, slug="ebike-field")
    for role in ("supervisor", "interviewer"):
        dbsession.add(StudyMember(study_id=study.id, user_id=world.users[role].id))
    dbsession.flush()
    dbsession.expire(study)
    return study


@pytest.fixture
def seeded(study, world, dbsession):
    ines = world.users["interviewer"]
    be = zone(dbsession, study, "BE")
    cases = {
        "fresh": add_case(dbsession, study, "K-001", zone_id=be, phone="+4930111222"),
        "held": add_case(dbsession, study, "K-002", zone_id=be, state="claimed", claimed_by=ines.id,
                         claimed_at=now(), heartbeat_at=now()),
        "done": add_case(dbsession, study, "K-003", zone_id=be, state="final", outcome="complete", aapor="1.1",
                         attempts=2),
        "refused": add_case(dbsession, study, "K-004", zone_id=be, state="final", outcome="hard_refusal",
                            aapor="2.111", attempts=1),
    }
    add_attempt(dbsession, cases["done"], ines, "complete", "1.1", now() - dt.timedelta(minutes=30), 15)
    add_attempt(dbsession, cases["refused"], ines, "hard_refusal", "2.111", now() - dt.timedelta(minutes=50), 2)
    add_interview(dbsession, study, cases["done"], ines, started_at=now() - dt.timedelta(minutes=29), minutes=14)
    return cases


def url(study, tail=""):
    return f"/studies/{study.slug}/{tail}"


def disposition_totals(page):
    """The dashboard's disposition table: AAPOR code -> its rows' last column (total), summed."""
    totals: dict[str, int] = {}
    for row in page.html.select("#dashboard-dispositions tbody tr"):
        code = row.select_one("code").text
        totals[code] = totals.get(code, 0) + int(row.select("td")[-1].text)
    return totals


def audit_actions(session, study):
    return list(session.scalars(select(AuditEvent.action).where(AuditEvent.study_id == study.id)
                                .order_by(AuditEvent.id)))


class TestDashboard:
    def test_figures_charts_and_rates(self, study, seeded, as_role):
        page = as_role("supervisor").get(url(study, "dashboard"))
        figure = {el["data-figure"]: el.text.strip() for el in page.html.select("[data-figure]")}
        assert figure["completes"] == "1"
        assert figure["target"] == "500"  # the e-bike quota targets add up to 500
        assert figure["total_cases"] == "4"
        assert figure["claimed"] == "1"
        assert figure["final_cases"] == "2"
        assert figure["rate_RR1"] == "25,0 %"  # German locale: 1 of 4
        assert len(page.html.select("figure.sv-chart svg rect.sv-bar")) > 0
        assert page.html.select_one('a[href$="/reports/dispositions.csv"]') is not None
        assert page.html.find("script", src=True)["src"].startswith("http://cati.test/static/supervisor.js")

    def test_blocked_cases_by_reason_are_labelled(self, study, seeded, as_role, dbsession):
        add_case(dbsession, study, "K-010", state="blocked", block_kind="erased", block_reason="contact data erased")
        add_case(dbsession, study, "K-011", state="blocked", block_kind="dnc")
        page = as_role("supervisor").get(url(study, "dashboard"))
        heading = page.html.find("h3", string="Gesperrte Fälle nach Grund")
        reasons = [li.text for li in heading.find_next("ul").select("li")]
        assert reasons == ["Sperrliste: 1", "Kontaktdaten gelöscht: 1"]  # sorted by kind: dnc, erased

    def test_no_inline_script_or_style(self, study, seeded, as_role):
        page = as_role("supervisor").get(url(study, "dashboard"))
        assert not [s for s in page.html.find_all("script") if not s.get("src")]
        assert not page.html.select("[style]")
        assert not page.html.find_all("style")
        assert "'unsafe-inline'" not in page.headers["Content-Security-Policy"]

    def test_json_for_the_refresh(self, study, seeded, as_role):
        data = as_role("supervisor").get(url(study, "dashboard.json")).json
        assert data["completes"] == 1
        assert data["figures"]["completes"] == "1"
        assert data["e"]["method"] == "proportional"
        assert data["cases"]["claimed"] == 1

    def test_live_sections_show_what_changed_since_the_page_was_loaded(self, study, seeded, as_role, dbsession):
        app = as_role("supervisor")
        page = app.get(url(study, "dashboard?hours=6"))
        live_url = page.html.select_one("#dashboard")["data-refresh-url"]
        assert live_url.endswith(f"/studies/{study.slug}/dashboard/live?hours=6")
        # Without JavaScript: the Refresh link reloads the page as it is; the script's notes stay hidden.
        assert page.html.select_one("#dashboard > .hint > a")["href"].endswith("/dashboard?hours=6")
        notes = page.html.select("#dashboard .sv-live, #dashboard .sv-live-failed")
        assert len(notes) == 2 and all(note.has_attr("hidden") for note in notes)
        # Every live part of the page has its id, and the fragment has the same parts, no layout.
        page_ids = [el["id"] for el in page.html.select("[data-live]")]
        assert page_ids == ["dashboard-as-of", "dashboard-kpis", "dashboard-charts", "dashboard-rates",
                            "dashboard-dispositions", "dashboard-appointments", "dashboard-quotas"]
        before = app.get(live_url)
        assert [el["id"] for el in before.html.select("[data-live]")] == page_ids
        assert before.html.find("nav") is None and before.html.find("script") is None
        assert disposition_totals(before)["2.111"] == 1

        seeded["fresh"].state, seeded["fresh"].outcome, seeded["fresh"].aapor = "final", "hard_refusal", "2.111"
        add_case(dbsession, study, "K-005", state="final", outcome="hard_refusal", aapor="2.111")
        cell = dbsession.scalars(select(QuotaCell).where(QuotaCell.study_id == study.id)
                                 .order_by(QuotaCell.quota_position, QuotaCell.position)).first()
        cell.completes = 7
        dbsession.flush()

        after = app.get(live_url)
        assert disposition_totals(after)["2.111"] == 3
        assert after.html.select_one("#dashboard-kpis [data-figure=final_cases]").text == "4"
        row = after.html.select_one("#dashboard-quotas tbody tr")
        assert [td.text.strip() for td in row.select("td")][:4] == [cell.quota, cell.cell, "130", "7"]
        assert "Stand" in after.html.select_one("#dashboard-as-of").text

    def test_study_page_links_to_supervision(self, study, as_role):
        page = as_role("supervisor").get(f"/studies/{study.slug}")
        assert page.html.select_one("#supervision-link")["href"].endswith(f"/studies/{study.slug}/dashboard")
        client = as_role("client").get(f"/studies/{study.slug}", status="*")
        assert client.html.select_one("#supervision-link") is None

    def test_bad_parameters(self, study, as_role):
        app = as_role("supervisor")
        app.get(url(study, "dashboard?hours=x"), status=400)
        app.get(url(study, "productivity?day=gestern"), status=400)
        app.get(url(study, "audit?since=31.12."), status=400)
        app.get(url(study, "reports/dispositions.pdf"), status=404)


class TestProductivity:
    def test_day_table_and_who_is_working(self, study, seeded, world, as_role):
        page = as_role("supervisor").get(url(study, "productivity"))
        row = page.html.select_one("#interviewers-heading ~ .sv-scroll table tbody tr")
        cells = [c.text.strip() for c in row.find_all(["th", "td"])]
        assert cells[0].startswith("Ines Interviewer")
        assert cells[1:4] == ["2", "2", "1"]  # calls, contacts, completes
        working = page.html.select_one("#working-now ~ table tbody tr")
        assert "K-002" in working.text and "Ines Interviewer" in working.text
        logged_in = row.select_one("[data-logged-in]")
        assert logged_in["data-logged-in"] == "estimated" and "*" in logged_in.text  # no login recorded

    def test_logged_in_time_comes_from_the_login_sessions(self, study, seeded, world, as_role, dbsession):
        from cati.models import WorkSession

        ines = world.users["interviewer"]
        dbsession.add(WorkSession(user_id=ines.id, started_at=now() - dt.timedelta(minutes=40),
                                  last_seen_at=now() - dt.timedelta(minutes=10),
                                  ended_at=now() - dt.timedelta(minutes=10)))
        dbsession.flush()
        page = as_role("supervisor").get(url(study, "productivity"))
        row = page.html.select_one("#interviewers-heading ~ .sv-scroll table tbody tr")
        logged_in = row.select_one("[data-logged-in]")
        assert (logged_in["data-logged-in"], logged_in.text) == ("sessions", "0:30")


class TestControl:
    def test_pause_and_reopen(self, study, as_role, dbsession):
        app = as_role("supervisor")
        form = app.get(url(study, "control")).forms["sv-status-form"]
        form.submit("status", value="paused", status=303)
        dbsession.expire(study)
        assert study.status == "paused"
        form = app.get(url(study, "control")).forms["sv-status-form"]
        form.submit("status", value="field", status=303)
        dbsession.expire(study)
        assert study.status == "field"
        assert audit_actions(dbsession, study).count("study.settings") >= 3

    def test_drafts_are_not_a_supervisors_status(self, study, as_role, dbsession):
        app = as_role("supervisor")
        token = csrf_token(app)
        app.post(url(study, "control/status"), {"status": "draft", "csrf_token": token}, status=422)
        dbsession.expire(study)
        assert study.status == "field"

    def test_limits_and_delays(self, study, as_role, dbsession):
        app = as_role("supervisor")
        form = app.get(url(study, "control")).forms["sv-settings-form"]
        form["max_attempts"] = "6"
        form["retry.busy"] = "20"
        form.submit(status=303)
        dbsession.expire(study)
        assert (study.settings["max_attempts"], study.settings["retry.busy"]) == (6, 20)
        event = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "study.settings")
                                  .order_by(AuditEvent.id.desc())).first()
        assert event.details["changes"] == {"max_attempts": "6", "retry.busy": "20"}

    def test_refused_settings_change_nothing(self, study, as_role, dbsession):
        app = as_role("supervisor")
        form = app.get(url(study, "control")).forms["sv-settings-form"]
        form["max_attempts"] = "500"
        form["retry.busy"] = "20"
        page = form.submit(status=422)
        assert "max_attempts" in page.html.select_one(".problems").text
        assert page.forms["sv-settings-form"]["max_attempts"].value == "500"
        dbsession.expire(study)
        assert "retry.busy" not in study.settings

    def test_eligibility_estimate(self, study, seeded, as_role, dbsession):
        app = as_role("supervisor")
        form = app.get(url(study, "control")).forms["sv-estimate-form"]
        form["mode"] = "value"
        form["e"] = "0,55"
        form["basis"] = "Screening-Quote der Welle 2025"
        form.submit(status=303)
        data = app.get(url(study, "dashboard.json")).json
        assert data["e"] == {"value": 0.55, "method": "supervisor", "basis": "Screening-Quote der Welle 2025"}
        form = app.get(url(study, "control")).forms["sv-estimate-form"]
        form["mode"] = "value"
        form["e"] = "0.5"
        form["basis"] = ""
        assert "basis" in form.submit(status=422).html.select_one(".problems").text

    def test_team_and_skills(self, study, world, as_role, dbsession):
        newcomer = make_user(dbsession, None, "nora")
        app = as_role("supervisor")
        form = app.get(url(study, "control")).forms["sv-member-form"]
        form["user_id"] = str(newcomer.id)
        form.submit(status=303)
        assert dbsession.get(StudyMember, (study.id, newcomer.id)) is not None
        form = app.get(url(study, "control")).forms[f"skills-{newcomer.id}"]
        form["languages"] = "de, tr"
        form["refusal_conversion"] = True
        form.submit(status=303)
        dbsession.expire(newcomer)
        assert newcomer.skills == {"languages": ["de", "tr"], "refusal_conversion": True}
        app.get(url(study, "control")).forms[f"remove-{newcomer.id}"].submit(status=303)
        assert dbsession.get(StudyMember, (study.id, newcomer.id)) is None

    def test_supervisors_do_not_assign_other_roles(self, study, world, as_role, dbsession):
        app = as_role("supervisor")
        token = csrf_token(app)
        for user in (world.users["researcher"], world.users["client"]):
            app.post(url(study, "control/members"), {"user_id": str(user.id), "csrf_token": token}, status=422)
            assert dbsession.get(StudyMember, (study.id, user.id)) is None
        app.post(url(study, "control/members/remove"),
                 {"user_id": str(world.users["supervisor"].id), "csrf_token": token}, status=422)

    def test_posts_need_the_csrf_token(self, study, as_role, dbsession):
        app = as_role("supervisor")
        app.post(url(study, "control/status"), {"status": "paused"}, status=400)
        dbsession.expire(study)
        assert study.status == "field"


class TestCases:
    def test_search_by_reference_and_number(self, study, seeded, as_role, dbsession):
        app = as_role("supervisor")
        page = app.get(url(study, "cases"), {"q": "K-00"})
        assert [a.text for a in page.html.select("table tbody a")] == ["K-001", "K-002", "K-003", "K-004"]
        page = app.get(url(study, "cases"), {"q": "030 111222"})
        assert [a.text for a in page.html.select("table tbody a")] == ["K-001"]
        assert "case.search" in audit_actions(dbsession, study)

    def test_the_case_page_says_why_a_case_is_not_callable(self, study, seeded, as_role, dbsession):
        from cati.sampling.calling_rules import DNC_REASON
        from cati.services import dnc

        app = as_role("supervisor")
        case = seeded["fresh"]
        dnc.add_numbers(dbsession, ["+4930111222"], salt="cati-dnc")
        dbsession.expire_all()  # a set-based update: the session's case is stale
        reasons = [li.text for li in app.get(url(study, f"cases/{case.id}")).html.select(".sv-reasons li")]
        assert any(DNC_REASON in reason for reason in reasons), reasons
        done = [li.text for li in app.get(url(study, f"cases/{seeded['done'].id}")).html.select(".sv-reasons li")]
        assert done and not any(DNC_REASON in reason for reason in done)  # final: its own reason

    def test_release_a_claimed_case(self, study, seeded, as_role, dbsession):
        app = as_role("supervisor")
        case = seeded["held"]
        page = app.get(url(study, f"cases/{case.id}"))
        page.forms["release-form"].submit(status=303)
        dbsession.refresh(case)
        assert (case.state, case.claimed_by) == ("ready", None)

    def test_hand_over_and_appointment(self, study, seeded, world, as_role, dbsession):
        app = as_role("supervisor")
        case = seeded["fresh"]
        form = app.get(url(study, f"cases/{case.id}")).forms["reassign-form"]
        form["user_id"] = str(world.users["interviewer"].id)
        form.submit(status=303)
        dbsession.refresh(case)
        assert (case.tier, case.reserved_for) == (0, world.users["interviewer"].id)
        form = app.get(url(study, f"cases/{case.id}")).forms["appointment-form"]
        when = _next_callable_evening(study)
        form["at"] = when.strftime("%Y-%m-%dT%H:%M")
        form["note"] = "bittet um Rückruf"
        form.submit(status=303)
        dbsession.refresh(case)
        assert case.next_call_at == when.astimezone(dt.UTC)
        assert case.reserved_for is None
        form = app.get(url(study, f"cases/{case.id}")).forms["appointment-form"]
        form["at"] = "2001-01-01T12:00"
        page = form.submit(status=422)
        assert "past" in page.html.select_one(".problems").text

    def test_finalise(self, study, seeded, as_role, dbsession):
        app = as_role("supervisor")
        case = seeded["fresh"]
        form = app.get(url(study, f"cases/{case.id}")).forms["finalise-form"]
        form["outcome"] = "not_eligible"
        form["note"] = ""
        assert form.submit(status=422).html.select_one(".problems")
        form["note"] = "Firmenanschluss"
        form.submit(status=303)
        dbsession.refresh(case)
        assert (case.state, case.aapor) == ("final", "4.70")

    def test_contact_data_on_request_only(self, study, seeded, as_role, dbsession):
        app = as_role("supervisor")
        case = seeded["fresh"]
        page = app.get(url(study, f"cases/{case.id}"))
        assert "+4930111222" not in page.text
        page = page.forms["contact-form"].submit(status=200)
        assert "+4930111222" in page.text and "Erika Muster" in page.text
        assert "contact.view" in audit_actions(dbsession, study)

    def test_forms_follow_the_state(self, study, seeded, world, as_role, dbsession):
        app = as_role("supervisor")
        blocked = add_case(dbsession, study, "K-009", state="blocked", block_kind="dnc",
                           block_reason="number is on the do-not-call list")
        reserved = add_case(dbsession, study, "K-010", tier=0, outcome="appointment_hard", aapor="2.21",
                            next_call_at=now() + dt.timedelta(hours=2), reserved_for=world.users["interviewer"].id)
        cases = {"final": seeded["done"], "blocked": blocked, "claimed": seeded["held"], "open": reserved}
        forms = {name: {k for k in app.get(url(study, f"cases/{case.id}")).forms if isinstance(k, str)}
                 for name, case in cases.items()}
        assert forms["final"] == {"contact-form", "logout-form", "language-form"}
        assert forms["blocked"] - forms["final"] == {"finalise-form"}
        assert forms["claimed"] - forms["final"] == {"release-form", "reassign-form"}
        assert forms["open"] - forms["final"] == {"reassign-form", "appointment-form", "finalise-form"}
        page = app.get(url(study, f"cases/{reserved.id}"))
        assert "Ines Interviewer" in page.html.select_one("dl.facts").text

    def test_a_case_of_another_study_is_not_found(self, study, world, as_role, dbsession):
        other = make_study(dbsession, slug="fremd")
        case = add_case(dbsession, other, "F-1")
        app = as_role("supervisor")
        app.get(url(study, f"cases/{case.id}"), status=404)
        app.post(url(study, f"cases/{case.id}/release"), {"csrf_token": csrf_token(app)}, status=404)


def _next_callable_evening(study) -> dt.datetime:
    """18:00 Berlin on the next day on which the study may call Berlin (no Sunday, no holiday)."""
    from zoneinfo import ZoneInfo

    from cati.sampling.calling_rules import window_reasons
    from cati.services.scheduler import rules_for

    day = dt.datetime.now(ZoneInfo("Europe/Berlin")).date() + dt.timedelta(days=1)
    while True:
        moment = dt.datetime.combine(day, dt.time(18, 0), ZoneInfo("Europe/Berlin"))
        if not window_reasons(rules_for(study), "Europe/Berlin", "BE", "DE", moment):
            return moment
        day += dt.timedelta(days=1)


class TestDue:
    AT = "2026-11-24T10:00"  # a Tuesday morning in Berlin: inside the research calling hours

    def test_the_cases_next_case_would_deliver_in_order(self, study, seeded, as_role, dbsession):
        from cati.services.case_admin import parse_local
        from cati.services.scheduler import due_cases

        at = parse_local(self.AT, "Europe/Berlin")
        be = seeded["fresh"].zone_id
        add_case(dbsession, study, "K-020", zone_id=be, tier=1, next_call_at=at - dt.timedelta(hours=1),
                         outcome="no_answer", attempts=1)
        appointment = add_case(dbsession, study, "K-021", zone_id=be, tier=0, next_call_at=at - dt.timedelta(minutes=5),
                               outcome="appointment", attempts=1)
        add_case(dbsession, study, "K-022", zone_id=be, tier=1, next_call_at=at + dt.timedelta(hours=1),
                 outcome="busy", attempts=1)  # not due yet
        page = as_role("supervisor").get(url(study, "due"), {"at": self.AT})
        rows = [[td.text.strip() for td in tr.select("td")] for tr in page.html.select("#due-cases tbody tr")]
        assert [r[1] for r in rows] == [d.ref for d in due_cases(dbsession, study, at)] == ["K-021", "K-020", "K-001"]
        assert [r[2] for r in rows] == ["Termin", "Wiederholung", "neuer Fall"]
        assert rows[0][4] == "2026-11-24 10:00 CET"
        link = page.html.select_one("#due-cases tbody a")["href"]
        assert link.endswith(f"/studies/{study.slug}/cases/{appointment.id}")
        assert page.html.select_one("#f-at")["value"] == self.AT

    def test_sunday_nobody_and_bad_moments(self, study, seeded, as_role):
        client = as_role("supervisor")
        sunday = client.get(url(study, "due"), {"at": "2026-11-22T11:00"})
        assert not sunday.html.select("#due-cases") and "darf kein Fall angerufen werden" in sunday.text
        bad = client.get(url(study, "due"), {"at": "morgen früh"}, status=400)
        assert "2026-11-25T18:00" in bad.html.select_one("#f-at-error").text
        limited = client.get(url(study, "due"), {"at": self.AT, "limit": "1"})
        assert len(limited.html.select("#due-cases tbody tr")) == 1 and "Nur die ersten 1" in limited.text


class TestBackchecks:
    def test_draw_and_record_a_failed_check(self, study, world, as_role, dbsession):
        ines = world.users["interviewer"]
        interviews = []
        for i in range(12):
            case = add_case(dbsession, study, f"B-{i:02d}", state="final", outcome="complete", aapor="1.1",
                            attempts=1)
            interviews.append(add_interview(dbsession, study, case, ines, started_at=now()))
        app = as_role("supervisor")
        form = app.get(url(study, "backchecks")).forms["share-form"]
        form["percent"] = "20"
        form.submit(status=303)
        app.get(url(study, "backchecks")).forms["draw-form"].submit(status=303)
        checks = list(dbsession.scalars(select(BackCheck).where(BackCheck.study_id == study.id)))
        assert len(checks) == 3  # ceil(20 % of 12)
        check = checks[0]
        form = app.get(url(study, "backchecks")).forms[f"result-{check.id}"]
        form["result"] = "failed"
        form["note"] = "Befragte kennt das Institut nicht"
        form["invalidate"] = True
        form.submit(status=303)
        dbsession.refresh(check)
        assert (check.status, check.invalidated) == ("failed", True)
        interview = next(i for i in interviews if i.id == check.interview_id)
        dbsession.refresh(interview)
        assert interview.status == "invalidated"

    def test_passed_check_cannot_invalidate(self, study, world, as_role, dbsession):
        add_interview(dbsession, study, None, world.users["interviewer"], started_at=now())
        [check] = backchecks.draw(dbsession, study, rng=random.Random(1))
        app = as_role("supervisor")
        form = app.get(url(study, "backchecks")).forms[f"result-{check.id}"]
        form["result"] = "passed"
        form["invalidate"] = True
        form.submit(status=422)
        dbsession.refresh(check)
        assert check.status == "pending"


class TestAuditAndReport:
    def test_audit_trail_filters_and_pages(self, study, seeded, as_role, dbsession):
        for i in range(105):
            dbsession.add(AuditEvent(study_id=study.id, action="case.outcome", target=f"case:X{i}"))
        dbsession.flush()
        app = as_role("supervisor")
        page = app.get(url(study, "audit"), {"kind": "case."})
        assert len(page.html.select("table tbody tr")) == 100
        older = page.html.find("a", string=lambda s: bool(s) and ("Older" in s or "Ältere" in s))
        page = app.get(older["href"])
        assert len(page.html.select("table tbody tr")) == 5
        page = app.get(url(study, "audit"), {"target": "case:X7"})
        assert [r.select("td")[3].text for r in page.html.select("table tbody tr")] == ["case:X7"]

    def test_a_client_s_download_can_be_found_by_person(self, study, seeded, world, as_role, dbsession):
        client = world.users["client"]  # not a member: clients see their organisation's studies
        study.client_id = world.acme.id
        dbsession.add(AuditEvent(study_id=study.id, user_id=client.id, action="export.download", target="export:1"))
        dbsession.flush()
        page = as_role("supervisor").get(url(study, "audit"))
        people = {o.text: o["value"] for o in page.html.select("#f-user option") if o["value"]}
        assert client.display_name in people and world.users["researcher"].display_name in people
        page = as_role("supervisor").get(url(study, "audit"), {"user": people[client.display_name]})
        assert [r.select("td")[2].text for r in page.html.select("table tbody tr")] == ["export.download"]

    def test_the_trail_of_no_study_is_the_admins(self, study, seeded, world, as_role, dbsession):
        from cati.services import dnc
        from cati.services.users import set_active

        admin = world.users["admin"]
        set_active(dbsession, world.users["interviewer"], False, actor_id=admin.id)
        dnc.add_numbers(dbsession, ["+4930999888"], salt="cati-dnc", actor_id=admin.id)
        dbsession.add(AuditEvent(study_id=study.id, user_id=admin.id, action="study.settings", target="study:x"))
        dbsession.flush()
        app = as_role("admin")
        link = app.get("/admin/users").html.select_one("#admin-audit-link")["href"]
        page = app.get(link)
        actions = [r.select("td")[2].text for r in page.html.select("table tbody tr")]
        assert "user.deactivate" in actions and "dnc.add" in actions and "study.settings" not in actions
        page = app.get(link, {"kind": "dnc."})
        assert [r.select("td")[2].text for r in page.html.select("table tbody tr")] == ["dnc.add"]

    def test_contact_changes_show_old_and_new_until_erased(self, study, seeded, world, as_role, dbsession):
        case = seeded["fresh"]
        console.correct_contact(dbsession, case, world.users["interviewer"], name="Erika Neuname",
                                phones={1: "030 111 333"})
        app = as_role("supervisor")

        def shown():
            page = app.get(url(study, "audit"), {"action": "contact.change"})
            [row] = page.html.select("table tbody tr")
            return [li.text for li in row.select("ul.sv-values li")], row.text

        values, text = shown()
        assert values == ["name: Erika Muster → Erika Neuname", "phone_1: +4930111222 → +4930111333"]
        erasure.erase_contacts(dbsession, study, [case], actor_id=None)
        dbsession.flush()
        values, text = shown()
        assert values == ["name: gelöscht", "phone_1: gelöscht"]
        assert "Neuname" not in text and "111333" not in text

    def test_dispositions_report_download(self, study, seeded, as_role, dbsession):
        app = as_role("supervisor")
        response = app.get(url(study, "reports/dispositions.csv"))
        assert response.headers["Content-Disposition"].startswith('attachment; filename="ebike-field-dispositions-')
        assert response.content_type == "text/csv"
        rows = list(csv.reader(io.StringIO(response.body.decode("utf-8"))))
        assert [r[0] for r in rows] == ["reference", "K-001", "K-002", "K-003", "K-004"]
        assert "+4930111222" not in response.text
        xlsx = app.get(url(study, "reports/dispositions.xlsx"))
        assert xlsx.body[:2] == b"PK"
        head = app.head(url(study, "reports/dispositions.csv"))  # no download: not audited
        assert head.status_int == 200 and head.content_type == "text/csv"
        events = dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "report.download")).all()
        assert [e.details["format"] for e in events] == ["csv", "xlsx"]
        assert {e.user_id for e in events} == {dbsession.scalar(select(User.id).where(User.username == "sven"))}


class TestNothingForInterviewersAndClients:
    @pytest.mark.parametrize("role", ["interviewer", "client"])
    def test_member_roles_get_403(self, study, seeded, as_role, dbsession, role):
        app = as_role(role)
        for tail in ("dashboard", "dashboard.json", "productivity", "cases", "audit", "backchecks", "control",
                     "reports/dispositions.csv", f"cases/{seeded['fresh'].id}"):
            app.get(url(study, tail), status=403 if role == "interviewer" else 404)
        token = csrf_token(app)
        app.post(url(study, f"cases/{seeded['held'].id}/release"), {"csrf_token": token},
                 status=403 if role == "interviewer" else 404)
        dbsession.refresh(seeded["held"])
        assert seeded["held"].state == "claimed"
        assert not dbsession.scalars(select(AuditEvent).where(AuditEvent.action == "report.download")).all()

    def test_supervisor_of_another_study_gets_404(self, study, seeded, world, browser, dbsession):
        from .conftest import add_user, login

        add_user(dbsession, "otto", "supervisor", display_name="Otto Other")
        app = browser()
        assert login(app, "otto").status_int == 303
        app.get(url(study, "dashboard"), status=404)
        app.get(url(study, f"cases/{seeded['fresh'].id}"), status=404)
        assert dbsession.get(Case, seeded["fresh"].id).state == "ready"
