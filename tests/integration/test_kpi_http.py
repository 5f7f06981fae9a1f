"""The indicators page, its download, the targets form and the API, by role."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select

from app.models import KpiTarget
from tests.replay_support import drive

PAGES = ["/kpi/", "/kpi/targets", "/kpi/export.xlsx", "/kpi/export.csv"]


@pytest.fixture
def solved(db):
    """One incident solved at the county desk and closed this month."""
    return drive("desk_solves")


@pytest.mark.parametrize("path", PAGES)
@pytest.mark.parametrize(("role", "status"), [
    ("requester", 403), ("service_desk", 200), ("support_line_1", 200), ("incident_lead", 200),
    ("service_level_lead", 200), ("auditor", 200), ("administrator", 200), ("process_owner", 200),
])
def test_who_sees_the_indicators(login_as, role, status, path):
    assert login_as(role).get(path).status_code == status


def test_the_page_shows_each_indicator_with_its_target(login_as, solved):
    html = login_as("service_level_lead").get("/kpi/").get_data(as_text=True)
    assert "运维服务质量指标" in html
    assert 'data-code="incident_count" data-value="1.0"' in html
    assert 'data-code="remote_resolution_rate" data-value="100.0" data-met="yes"' in html
    assert 'data-code="satisfaction" data-value="4.0" data-met="yes"' in html
    assert 'data-code="change_success_rate" data-value="" data-met=""' in html  # no change: nothing to judge
    for section in ("monitoring", "maintenance", "repair", "end_user", "change", "security"):
        assert f'data-section="{section}"' in html
    assert '<tr data-category="terminal"><td>终端</td>' in html  # the incident form's label for the code
    assert html.index('data-section="monitoring"') < html.index('data-section="repair"') < html.index(
        'data-section="security"')  # the spec's order
    assert 'data-process="incident"' in html
    english = login_as("service_level_lead").get("/kpi/?lang=en").get_data(as_text=True)
    assert "Service quality indicators" in english and "Remote resolution rate" in english


def test_a_bad_period_is_shown_beside_the_form(login_as):
    page = login_as("service_level_lead").get("/kpi/?period=2026-13")
    assert page.status_code == 400
    assert 'id="error-period"' in page.get_data(as_text=True)
    assert login_as("service_level_lead").get("/kpi/?organisation=city").status_code == 403
    assert login_as("desk_city").get("/kpi/?organisation=county&below=0").status_code == 200


def test_the_indicators_as_a_spreadsheet(login_as, solved):
    lead = login_as("service_level_lead")
    book = lead.get("/kpi/export.xlsx")
    assert book.status_code == 200
    assert book.headers["Content-Disposition"].startswith("attachment; filename=indicators-county-")
    rows = [[c.value for c in row] for row in load_workbook(io.BytesIO(book.data)).active.iter_rows()]
    assert rows[0][3] == "指标" and len(rows) == 1 + 14
    count = next(r for r in rows if r[3] == "事件数")
    assert count[4] == 1.0
    text = lead.get("/kpi/export.csv?lang=en&period=2025-01").data.decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0][3] == "Indicator" and table[1][1] == "2025-01"
    assert login_as("service_level_lead").get("/kpi/export.pdf").status_code == 404


def test_setting_targets_on_the_form(login_as, db):
    lead = login_as("service_level_lead")
    assert lead.post("/kpi/targets", data={"satisfaction": "4.5", "timely_response_rate": ""}).status_code == 302
    page = lead.get("/kpi/targets").get_data(as_text=True)
    assert 'name="satisfaction" value="4.5"' in page
    refused = lead.post("/kpi/targets", data={"satisfaction": "9", "timely_response_rate": "97"})
    assert refused.status_code == 400
    html = refused.get_data(as_text=True)
    assert 'id="e-satisfaction"' in html and 'name="timely_response_rate" value="97"' in html  # input kept
    assert db.session.scalar(select(func.count()).select_from(KpiTarget)) == 1  # nothing of the refused form
    assert login_as("service_desk").post("/kpi/targets", data={"satisfaction": "3"}).status_code == 403
    assert login_as("auditor").post("/kpi/targets", data={"satisfaction": "3"}).status_code == 403
    assert 'disabled' in login_as("auditor").get("/kpi/targets").get_data(as_text=True)


def test_the_targets_form_needs_its_csrf_token(app, login_as, db):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert login_as("service_level_lead").post("/kpi/targets", data={"satisfaction": "4.5"}).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert db.session.scalar(select(func.count()).select_from(KpiTarget)) == 0


def test_api_report_and_targets(client, api_as, solved):
    headers = api_as("service_level_lead")
    body = client.get("/api/v1/kpi", headers=headers).get_json()
    figs = {f["code"]: f for f in body["indicators"]}
    assert body["organisation"]["code"] == "county" and body["include_below"] is True
    assert figs["incident_count"]["value"] == 1.0 and figs["satisfaction"]["met"] is True
    assert figs["timely_response_rate"]["denominator"] == 1
    assert [r["category"] for r in body["incidents_by_category"]] == ["terminal"]
    assert client.get("/api/v1/kpi?period=13", headers=headers).status_code == 400
    assert client.get("/api/v1/kpi", headers=api_as("requester")).status_code == 403
    assert client.get("/api/v1/kpi").status_code == 401
    put = client.put("/api/v1/kpi/targets", headers=headers, json={"targets": {"satisfaction": 4.5}})
    assert put.status_code == 200 and put.get_json()["changed"] == ["satisfaction"]
    listed = {t["code"]: t for t in client.get("/api/v1/kpi/targets", headers=headers).get_json()["targets"]}
    assert listed["satisfaction"] == {**listed["satisfaction"], "target": 4.5, "set_by": "county", "own": 4.5}
    bad = client.put("/api/v1/kpi/targets", headers=headers, json={"targets": {"satisfaction": "x"}})
    assert bad.status_code == 400 and "satisfaction" in bad.get_json()["errors"]
    assert client.put("/api/v1/kpi/targets", headers=api_as("auditor"),
                      json={"targets": {"satisfaction": 3}}).status_code == 403
    assert "/api/v1/kpi" in client.get("/api/v1/openapi.json").get_json()["paths"]


def test_the_trend_page_and_api(login_as, client, api_as, solved):
    page = login_as("service_level_lead").get("/kpi/trend?months=3")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('<th scope="col">') == 3 and 'data-code="incident_count"' in html
    assert login_as("requester").get("/kpi/trend").status_code == 403
    assert login_as("service_level_lead").get("/kpi/trend?months=99").status_code == 400
    body = client.get("/api/v1/kpi/trend?months=2", headers=api_as("service_level_lead")).get_json()
    counts = next(i for i in body["indicators"] if i["code"] == "incident_count")
    assert len(body["periods"]) == 2 and counts["values"][-1] == 1.0


def test_started_counts_open_the_cases_they_count(login_as, solved):
    import re

    lead = login_as("service_level_lead")
    html = lead.get("/kpi/").get_data(as_text=True)
    (href,) = re.findall(r'<tr data-process="incident">.*?<a href="([^"]+)" class="drill">1</a>', html)
    href = href.replace("&amp;", "&")
    assert "process=incident" in href and "created_from=" in href and "organisation=" not in href
    cases = lead.get(href).get_data(as_text=True)
    assert cases.count("<tr data-key=") == 1 and solved.business_key in cases  # the same one case
    alone = lead.get("/kpi/?below=0").get_data(as_text=True)
    assert "organisation=county" in re.findall(r'<tr data-process="incident">.*?class="drill"', alone)[0]
    other = login_as("desk_city").get("/kpi/?organisation=county").get_data(as_text=True)
    assert 'class="drill"' not in other  # another organisation with those below it: the case list cannot say
