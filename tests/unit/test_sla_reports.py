"""Monthly SLA reports per organisation and service class: targets, achieved, breaches, pauses; stored and
viewable; regenerating a month gives the same figures."""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.jobs import sla_jobs
from app.services import incident as incident_service
from app.services import sla
from app.services.errors import Forbidden
from tests.support import start_data

SH = ZoneInfo("Asia/Shanghai")


def _clock(db, user, *, minutes_used: int, target: int, kind: str = "resolve", service_class="application",
           pause: bool = False):
    instance = incident_service.report_fault(user("reporter"), start_data())
    db.session.flush()
    start = datetime(2026, 11, 24, 9, 0, tzinfo=SH)  # a Tuesday
    clock = sla.start_clock(instance, kind, started_at=start, target_minutes=target, priority="P2",
                            service_class=service_class, now=start)
    if pause:
        sla.pause_clock(clock, "waiting_vendor", start + timedelta(minutes=10))
        sla.resume_clock(clock, start + timedelta(minutes=40))
    sla.stop_clock(clock, start + timedelta(minutes=minutes_used + (30 if pause else 0)))
    return clock


def test_report_figures(db, user, login_as):
    _clock(db, user, minutes_used=60, target=120, pause=True)
    _clock(db, user, minutes_used=150, target=120)
    _clock(db, user, minutes_used=10, target=30, kind="response", service_class="security")
    org = user("reporter").organisation
    report = sla.build_report(org, "2026-11", now=datetime(2026, 12, 1, 2, 0, tzinfo=SH))
    rows = {(r["service_class"], r["kind"]): r for r in report.rows}
    assert rows[("application", "resolve")] == {
        "service_class": "application", "kind": "resolve", "clocks": 2, "achieved": 1, "breached": 1,
        "running": 0, "paused_minutes": 30, "target_minutes_avg": 120, "achievement_rate": 50.0}
    assert rows[("security", "response")]["achievement_rate"] == 100.0
    again = sla.build_report(org, "2026-11", now=datetime(2026, 12, 2, tzinfo=SH))
    assert again.id == report.id and again.rows == report.rows
    assert sla.build_report(org, "2026-10").rows == []
    page = login_as("service_level_lead").get(f"/sla/reports/{report.id}")
    assert page.status_code == 200 and 'data-service-class="application"' in page.get_data(as_text=True)
    assert report in sla.reports_for(user("service_level_lead"))
    assert login_as("service_level_lead").get("/sla/reports").status_code == 200


def test_monthly_job_reports_last_month_for_every_organisation(db, user):
    assert sla.previous_period(datetime(2026, 1, 1, 1, 0, tzinfo=SH)) == "2025-12"
    _clock(db, user, minutes_used=60, target=120)
    count = sla_jobs.monthly_reports("2026-11")
    assert count >= 4
    (report,) = [r for r in sla.reports_for(user("auditor")) if r.organisation_id == user("reporter").organisation_id]
    assert report.period == "2026-11" and report.rows[0]["achieved"] == 1


# --- who may open the SLA staff pages: members of any group (staff, auditors, administrators), not requesters

SLA_PAGES = ["/sla/reports", "/sla/reports/{id}", "/sla/calendar"]
SLA_PAGE_ROLES = {"requester": 403, "service_desk": 200, "support_line_1": 200, "incident_lead": 200,
                  "service_level_lead": 200, "service_level_operator": 200, "auditor": 200, "administrator": 200}


@pytest.mark.parametrize("role", SLA_PAGE_ROLES)
@pytest.mark.parametrize("path", SLA_PAGES)
def test_sla_pages_by_role(db, user, login_as, role, path):
    _clock(db, user, minutes_used=60, target=120)
    report = sla.build_report(user("reporter").organisation, "2026-11", now=datetime(2026, 12, 1, 2, 0, tzinfo=SH))
    db.session.commit()
    response = login_as(role).get(path.format(id=report.id))
    assert response.status_code == SLA_PAGE_ROLES[role], (role, path)


def test_requesters_are_refused_by_the_service(db, user):
    reporter, auditor = user("reporter"), user("auditor")
    assert not sla.may_view_reports(reporter) and not sla.may_view_calendar(reporter)
    assert sla.may_view_reports(auditor) and sla.may_view_calendar(auditor)
    with pytest.raises(Forbidden):
        sla.reports_for(reporter)
    with pytest.raises(Forbidden):
        sla.calendar_for(reporter)
    assert sla.calendar_for(auditor) == sla.calendar_spec_for(auditor.organisation_id)
