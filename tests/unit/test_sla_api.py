"""POST /api/v1/sla/compute, the clocks API and the SLA pages."""
from __future__ import annotations

from sqlalchemy import select

from app.models import Organisation
from app.services import incident as incident_service
from app.services import instances
from tests.integration.helpers import ready_task, worker_for
from tests.support import PATHS, start_data

INLINE = {"timezone": "Asia/Shanghai", "hours": {"mon": [["09:00", "12:00"], ["13:30", "17:30"]],
                                                 "tue": [["09:00", "12:00"], ["13:30", "17:30"]],
                                                 "wed": [["09:00", "12:00"], ["13:30", "17:30"]],
                                                 "thu": [["09:00", "12:00"], ["13:30", "17:30"]],
                                                 "fri": [["09:00", "12:00"], ["13:30", "17:30"]]},
          "holidays": ["2026-10-01", "2026-10-02", "2026-10-05", "2026-10-06", "2026-10-07"],
          "working_days": ["2026-10-10"]}


def test_compute_with_inline_calendar(client, api_as):
    body = {"calendar": INLINE, "start": "2026-09-30T17:00:00+08:00", "target_minutes": 60,
            "pauses": [["2026-10-08T09:00:00+08:00", "2026-10-08T10:00:00+08:00"]],
            "at": "2026-10-08T12:00:00+08:00"}
    r = client.post("/api/v1/sla/compute", json=body, headers=api_as("service_level_lead"))
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["deadline"] == "2026-10-08T02:30:00+00:00"  # 10:30 Shanghai
    assert r.get_json()["elapsed_minutes"] == 30 + 120


def test_compute_with_organisation_calendar(db, client, api_as):
    org = db.session.scalar(select(Organisation).where(Organisation.parent_id.is_(None)))
    body = {"calendar": org.id, "start": "2026-09-30T17:00:00+08:00", "target_minutes": 60,
            "at": "2026-10-10T10:00:00+08:00"}
    r = client.post("/api/v1/sla/compute", json=body, headers=api_as("auditor"))
    assert r.status_code == 200, r.get_json()
    # The default calendar: 10/1-10/7 holidays, Thursday 10/8 works.
    assert r.get_json() == {"deadline": "2026-10-08T01:30:00+00:00", "elapsed_minutes": 30 + 420 + 420 + 60,
                            "at": "2026-10-10T02:00:00+00:00"}


def test_compute_refusals(client, api_as):
    ok = {"calendar": INLINE, "start": "2026-09-30T17:00:00+08:00", "target_minutes": 60}
    assert client.post("/api/v1/sla/compute", json=ok, headers=api_as("reporter")).status_code == 403
    assert client.post("/api/v1/sla/compute", json=ok).status_code == 401
    bad = {**ok, "start": "yesterday", "target_minutes": -5, "calendar": {"timezone": "Nowhere/Else"},
           "pauses": [["2026-10-08T10:00:00+08:00", "2026-10-08T09:00:00+08:00"]]}
    r = client.post("/api/v1/sla/compute", json=bad, headers=api_as("service_level_operator"))
    assert r.status_code == 400
    assert set(r.get_json()["errors"]) == {"start", "target_minutes", "calendar", "pauses"}
    r = client.post("/api/v1/sla/compute", json={**ok, "calendar": 999999}, headers=api_as("service_level_lead"))
    assert r.status_code == 404


def test_openapi_documents_compute(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    assert "post" in spec["paths"]["/api/v1/sla/compute"]


def _recorded_incident(db, user):
    instance = incident_service.report_fault(user("reporter"), start_data())
    db.session.flush()
    start, steps = PATHS["no_problem_submits_knowledge"]
    for spec_id, data in steps[:2]:
        task = ready_task(instance.id)
        assert task.spec_id == spec_id
        instances.complete_task(task.id, user(worker_for(task)), data)
        db.session.flush()
    return instance


def test_clocks_api_and_page_show_the_same_figures(db, user, client, api_as, login_as):
    instance = _recorded_incident(db, user)
    r = client.get(f"/api/v1/sla/instances/{instance.id}", headers=api_as("service_level_lead"))
    assert r.status_code == 200
    clocks = {c["kind"]: c for c in r.get_json()}
    assert clocks["response"]["status"] == "stopped" and clocks["resolve"]["status"] == "running"
    page = login_as("reporter").get(f"/sla/instances/{instance.id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-kind="resolve" data-status="running"' in html
    assert f'<dd class="sla-target">{clocks["resolve"]["target_minutes"]}</dd>' in html
    assert client.get("/api/v1/sla/instances/999999", headers=api_as("service_level_lead")).status_code == 404


def test_calendar_page(db, login_as):
    admin = login_as("admin")
    assert admin.get("/sla/calendar").status_code == 200
    r = admin.post("/sla/calendar", data={"calendar": '{"timezone": "UTC", "hours": {"mon": [["08:00", "16:00"]]}}'})
    assert r.status_code == 302
    assert "&#34;UTC&#34;" in admin.get("/sla/calendar").get_data(as_text=True)
    assert admin.post("/sla/calendar", data={"calendar": "{not json"}).status_code == 400
    reporter = login_as("reporter")
    page = reporter.get("/sla/calendar").get_data(as_text=True)
    assert "<textarea" not in page
