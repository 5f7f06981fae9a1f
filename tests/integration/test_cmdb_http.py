"""CMDB pages and API by role: CI page, impact, graph, edit refusal, relations, import/export, drift, baselines."""
from __future__ import annotations

import io

from sqlalchemy import select

from app.models import CIRelation, ConfigurationItem, Incident


def test_ci_page_shows_attributes_relations_impact_incidents_and_history(login_as, db):
    page = login_as("support_line_1").get("/cmdb/SRV-DB-01")
    assert page.status_code == 200
    html = page.data.decode()
    for text in ("srv-db-01", "10.0.1.10", "<strong>运行于</strong>", "DB-ORA-01", "SVC-EQM", "WEB-PORTAL",
                 'id="impact"', 'id="history"', 'id="incidents"', 'id="cases"'):
        assert text in html, text
    assert login_as("requester").get("/cmdb/SRV-DB-01").status_code == 403
    assert login_as("support_line_1").get("/cmdb/WEB-PORTAL").status_code == 403  # the city's CI
    assert login_as("support_line_1").get("/cmdb/NOPE").status_code == 404
    listing = login_as("support_line_1").get("/cmdb?ci_type=server").data.decode()
    assert "SRV-DB-01" in listing and "APP-EQM" not in listing


def test_incidents_link_to_the_ci_page(login_as, db, user):
    from app.services.incident import report_fault

    instance = report_fault(user("reporter"), {"symptoms": "数据库服务器无法访问", "affected_cis": ["SRV-DB-01"]})
    db.session.commit()
    html = login_as("support_line_1").get("/cmdb/SRV-DB-01").data.decode()
    assert instance.business_key in html


def test_impact_api_and_graph_json(client, login_as, api_as, db):
    response = client.get("/api/v1/cis/SRV-DB-01/impact", headers=api_as("support_line_1"))
    assert response.status_code == 200
    body = response.json
    assert {a["code"] for a in body["affected"]} == {"DB-ORA-01", "APP-EQM", "SVC-EQM", "WEB-PORTAL", "NET-CORE-01"}
    assert body["services"][0]["code"] == "SVC-EQM" and body["users"]["count"] == 120
    assert client.get("/api/v1/cis/SRV-DB-01/impact", headers=api_as("requester")).status_code == 403
    detail = client.get("/api/v1/cis/SRV-DB-01", headers=api_as("support_line_1")).json
    assert detail["attributes"]["hostname"] == "srv-db-01" and {"type": "runs_on", "source": "DB-ORA-01"} in \
        detail["related_from"]
    graph = login_as("support_line_1").get("/cmdb/SRV-DB-01/graph.json").json
    ids = {n["data"]["id"] for n in graph["nodes"]}
    assert {"SRV-DB-01", "DB-ORA-01", "NET-CORE-01", "STO-SAN-01", "APP-EQM"} <= ids
    assert {"source": "DB-ORA-01", "target": "SRV-DB-01", "label": "runs_on"} in [
        {k: e["data"][k] for k in ("source", "target", "label")} for e in graph["edges"]]
    assert "DB-ORA-01" in graph["impacted"]
    assert graph["impacted_total"] == 5 and "STO-SAN-01" not in graph["impacted"]
    page = client.get("/api/v1/cis/SRV-DB-01/impact?limit=2&offset=1", headers=api_as("support_line_1")).json
    assert page["total"] == 5 and page["offset"] == 1 and page["limit"] == 2
    assert [a["code"] for a in page["affected"]] == [a["code"] for a in body["affected"]][1:3]
    assert page["users"]["count"] == 120 and page["by_class"] == body["by_class"]
    for bad in ("limit=-1", "limit=1001", "offset=-3", "limit=x"):
        assert client.get(f"/api/v1/cis/SRV-DB-01/impact?{bad}", headers=api_as("support_line_1")).status_code == 422
    html = login_as("support_line_1").get("/cmdb/SRV-DB-01?impact_offset=4").data.decode()
    assert 'id="impact-pager"' in html and 'rel="prev"' in html and 'id="impact-total"' in html
    assert "cytoscape.min.js" in login_as("support_line_1").get("/cmdb/SRV-DB-01/graph").data.decode()


def test_writers_register_and_relate_cis_but_controlled_edits_are_refused(login_as, db):
    lead = login_as("configuration_lead")
    created = lead.post("/cmdb/new", data={"ci_type": "server", "name": "备份服务器", "status": "planned",
                                           "controlled": "no", "attr_ip_address": "10.0.5.5", "attr_cpu_cores": "8"})
    assert created.status_code == 302
    ci = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.name == "备份服务器"))
    assert ci.code == "SRV-COUNTY-00001" and ci.attributes == {"ip_address": "10.0.5.5", "cpu_cores": 8}
    bad = lead.post("/cmdb/new", data={"ci_type": "server", "name": "x", "attr_ip_address": "nope"})
    assert bad.status_code == 400
    lead.post(f"/cmdb/{ci.code}/relations", data={"rel_type": "connected_to", "target": "NET-CORE-01"})
    assert db.session.scalar(select(CIRelation).where(CIRelation.source_id == ci.id)).rel_type == "connected_to"
    lead.post(f"/cmdb/{ci.code}/edit", data={"name": "备份服务器", "status": "in_use", "attr_cpu_cores": "16"})
    assert ci.attributes["cpu_cores"] == 16 and ci.status == "in_use"
    refused = lead.post("/cmdb/SRV-DB-01/edit", data={"name": "偷偷改名"}, follow_redirects=True)
    assert "已批准的变更" in refused.data.decode()  # the refusal, in the default (Chinese) UI
    assert db.session.scalar(select(ConfigurationItem.name).where(ConfigurationItem.code == "SRV-DB-01")) == \
        "环境质量数据库服务器"
    assert login_as("support_line_1").post("/cmdb/new", data={"ci_type": "server", "name": "x"}).status_code == 403
    assert login_as("support_line_1").post(f"/cmdb/{ci.code}/edit", data={"name": "y"}).status_code == 403


def test_export_import_and_observed_configuration_pages(login_as, db):
    lead = login_as("configuration_lead")
    csv_body = lead.get("/cmdb/export.csv")
    assert csv_body.status_code == 200 and "SRV-DB-01" in csv_body.data.decode("utf-8-sig")
    xlsx = lead.get("/cmdb/export.xlsx")
    assert xlsx.status_code == 200 and xlsx.data[:2] == b"PK"
    upload = "name,ci_type,status,organisation\n办公终端,terminal,planned,county\n".encode()
    done = lead.post("/cmdb/import", data={"file": (io.BytesIO(upload), "cis.csv")},
                     content_type="multipart/form-data")
    assert done.status_code == 200 and "TRM-COUNTY-00001" in done.data.decode()
    observed = b'[{"hostname": "net-core-01", "ip_address": "10.0.0.99"}]'
    result = lead.post("/cmdb/observed", data={"file": (io.BytesIO(observed), "scan.json")},
                       content_type="multipart/form-data")
    html = result.data.decode()
    assert "10.0.0.99" in html and "INC-" in html
    incident = db.session.scalar(select(Incident).where(Incident.channel == "system"))
    assert [link.ci.code for link in incident.cis] == ["NET-CORE-01"]
    assert login_as("support_line_1").get("/cmdb/import").status_code == 403


def test_baseline_pages(login_as, db):
    lead = login_as("configuration_lead")
    saved = lead.post("/cmdb/baselines", data={"name": "上线前", "codes": "SRV-DB-01 DB-ORA-01"})
    assert saved.status_code == 302
    page = lead.get(saved.headers["Location"]).data.decode()
    assert "上线前" in page and 'id="changed"' in page
    assert "上线前" in login_as("support_line_1").get("/cmdb/baselines").data.decode()
