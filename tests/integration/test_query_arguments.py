"""Query and form arguments that are not numbers get a page or a clear error, never a server error; the inbox
offers the deployed processes to filter by."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from app.models import ConfigurationItem
from tests.integration.helpers import form_post
from tests.support import start_data


@pytest.mark.parametrize(("role", "url"), [
    ("service_desk", "/?page=abc"),
    ("service_desk", "/?page=-3"),
    ("auditor", "/audit/instances?page=abc"),
    ("support_line_1", "/cmdb/SRV-DB-01/graph.json?depth=abc"),
])
def test_a_page_with_a_non_numeric_argument_is_shown_with_the_default(login_as, role: str, url: str) -> None:
    assert login_as(role).get(url).status_code == 200


@pytest.mark.parametrize("url", ["/api/v1/cis?limit=abc", "/api/v1/cis?limit=-1",
                                 "/api/v1/knowledge?q=x&limit=abc"])
def test_api_lists_with_a_non_numeric_limit_use_the_default(client, api_as, url: str) -> None:
    response = client.get(url, headers=api_as("service_desk"))
    assert response.status_code == 200 and isinstance(response.get_json(), list)


@pytest.mark.parametrize("org", ["abc", "999999"])
def test_registering_a_ci_in_an_unknown_organisation_is_refused(db, login_as, org: str) -> None:
    before = db.session.scalar(select(func.count()).select_from(ConfigurationItem))
    response = login_as("configuration_lead").post(
        "/cmdb/new?ci_type=server&lang=en", data={"name": "新服务器", "organisation_id": org})
    assert response.status_code == 400
    assert f'<p class="error">Organisation {org} does not exist.</p>' in response.data.decode()
    assert db.session.scalar(select(func.count()).select_from(ConfigurationItem)) == before


def test_the_ci_form_keeps_the_chosen_organisation_when_it_is_redrawn(db, login_as, user) -> None:
    lead = login_as("configuration_lead")
    org_id = user("configuration_lead").organisation_id
    page = lead.post("/cmdb/new?ci_type=server", data={"name": "", "organisation_id": str(org_id)}).data.decode()
    assert f'<option value="{org_id}" selected>' in page


def test_inbox_filters_by_a_process_chosen_from_the_deployed_ones(db, login_as) -> None:
    desk = login_as("service_desk")
    assert desk.post("/incidents/record", data=form_post(start_data())).status_code == 302
    page = desk.get("/").data.decode()
    offered = re.findall(r'<option value="([a-z_]+)"', page.split('name="process"')[1].split("</select>")[0])
    assert "incident" in offered and "change" in offered and len(offered) >= 11
    assert 'data-task-id="' in desk.get("/?process=incident").data.decode()
    chosen = desk.get("/?process=change").data.decode()
    assert 'data-task-id="' not in chosen
    assert '<option value="change" selected>' in chosen


HUGE = str(10**30)  # no row has such an id, and neither SQLite nor PostgreSQL INTEGER can hold it


@pytest.fixture
def get_as(client, login_as, api_as):  # noqa: ANN001, ANN201
    """GET a page (session of the role's demo user) or an API URL (the role's bearer token)."""

    def get(role: str, url: str):  # noqa: ANN202
        if url.startswith("/api/"):
            return client.get(url, headers=api_as(role))
        return login_as(role).get(url)

    return get


@pytest.mark.parametrize(("role", "url"), [
    ("service_desk", f"/instances/{HUGE}"),
    ("service_desk", f"/tasks/{HUGE}"),
    ("auditor", f"/audit/instances/{HUGE}"),
    ("auditor", f"/api/v1/audit/instances/{HUGE}/replay"),
    ("process_owner", f"/api/v1/processes/release/versions/{HUGE}/bpmn"),
    ("service_desk", f"/api/v1/tasks/{HUGE}"),
    ("service_desk", f"/api/v1/instances/{2**31}"),
])
def test_an_id_too_large_for_any_row_is_not_found(get_as, role: str, url: str) -> None:
    assert get_as(role, url).status_code == 404


@pytest.mark.parametrize(("role", "url"), [
    ("service_desk", f"/?page={HUGE}"),
    ("auditor", f"/audit/instances?page={HUGE}"),
    ("service_desk", f"/api/v1/tasks?page={HUGE}"),
    ("auditor", f"/api/v1/audit/instances?page={HUGE}"),
    ("auditor", f"/api/v1/audit/export?instance={HUGE}"),
])
def test_a_number_too_large_in_the_query_is_a_clear_400(get_as, role: str, url: str) -> None:
    response = get_as(role, url + "&lang=en")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    if url.startswith("/api/"):
        assert response.get_json()["message"] == "A number in the request is too large."
    else:
        assert "A number in the request is too large." in response.data.decode()
