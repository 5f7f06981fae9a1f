"""The related-incidents page by role, and opening a problem from it."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import InstanceLink, ProcessInstance
from tests.unit.test_correlation import _incident


@pytest.fixture
def three_on_one_ci(db, user):
    made = [_incident(db, user, "SRV-DB-01", "ORA-12170") for _ in range(3)]
    db.session.commit()
    return made


@pytest.mark.parametrize(("role", "status"), [
    ("problem_lead", 200), ("incident_lead", 200), ("auditor", 200), ("administrator", 200),
    ("service_desk", 403), ("requester", 403), ("support_line_1", 403)])
def test_who_sees_related_incidents(login_as, role, status):
    assert login_as(role).get("/correlation/").status_code == status


def test_the_page_lists_them_and_opens_a_problem(login_as, db, three_on_one_ci):
    lead = login_as("problem_lead")
    html = lead.get("/correlation/").get_data(as_text=True)
    assert 'data-kind="ci" data-key="SRV-DB-01" data-count="3"' in html
    assert "创建问题" in html and 'name="kind" value="ci"' in html  # Chinese by default; the lead may open one
    opened = lead.post("/correlation/problems", data={"kind": "ci", "key": "SRV-DB-01", "days": "30",
                                                      "min_incidents": "3"})
    assert opened.status_code == 302
    problem = db.session.scalar(select(ProcessInstance).where(ProcessInstance.process_id == "problem"))
    assert opened.headers["Location"].endswith(f"/instances/{problem.id}")
    assert db.session.scalar(select(func.count()).select_from(InstanceLink).where(
        InstanceLink.target_id == problem.id)) == 3
    assert problem.business_key in lead.get("/correlation/").get_data(as_text=True)
    assert 'name="kind"' not in login_as("incident_lead").get("/correlation/").get_data(as_text=True)
    assert login_as("incident_lead").post("/correlation/problems", data={"kind": "ci", "key": "SRV-DB-01"}
                                          ).status_code == 403
    assert lead.post("/correlation/problems", data={"kind": "ci", "key": "NOPE"}).status_code == 404
    assert lead.get("/correlation/?days=0").status_code == 400


def test_opening_a_problem_needs_the_csrf_token(app, login_as, db, three_on_one_ci):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert login_as("problem_lead").post("/correlation/problems", data={
            "kind": "ci", "key": "SRV-DB-01"}).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance).where(
        ProcessInstance.process_id == "problem")) == 0
