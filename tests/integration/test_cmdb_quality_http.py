"""The CMDB quality page and API by role."""
from __future__ import annotations

import pytest

from tests.unit.test_cmdb_quality import messy  # noqa: F401  (the fixture)


@pytest.mark.parametrize(("role", "status"), [("configuration_lead", 200), ("configuration_operator", 200),
                                              ("auditor", 200), ("administrator", 200), ("service_desk", 403),
                                              ("requester", 403)])
def test_who_sees_the_quality_report(login_as, role, status):
    assert login_as(role).get("/cmdb/quality").status_code == status


def test_page_and_api(login_as, client, api_as, messy):  # noqa: F811
    html = login_as("configuration_lead").get("/cmdb/quality").get_data(as_text=True)
    assert 'data-check="orphan"' in html and messy["alone"].code in html and "CMDB 数据质量" in html
    assert login_as("configuration_lead").get("/cmdb/quality?stale_days=1").status_code == 400
    body = client.get("/api/v1/cis/quality", headers=api_as("configuration_lead")).get_json()
    assert set(body) == {"duplicate_hostname", "duplicate_ip", "duplicate_serial", "orphan", "depends_on_retired",
                         "missing_serial", "stale"}
    dep = next(f for f in body["depends_on_retired"] if f["key"] == messy["still"].code)
    assert dep["cis"] == [messy["still"].code, messy["gone"].code] and dep["relation"] == "depends_on"
    assert client.get("/api/v1/cis/quality", headers=api_as("service_desk")).status_code == 403
    assert client.get("/api/v1/cis/quality?stale_days=x", headers=api_as("auditor")).status_code == 400
