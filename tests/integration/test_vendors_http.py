"""Supplier pages and API by role: list, register, edit, staff, evaluations, process control."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.models import Vendor, VendorEvaluation

FORM = {"code": "VEN-NET", "name": "示范网络工程公司", "kind": "infrastructure", "organisation": "county",
        "contract_start": "2026-01-01", "contract_end": "2026-12-31", "contact_email": "net@example.org"}


@pytest.mark.parametrize(("role", "list_status", "new_status"), [
    ("requester", 403, 403), ("service_desk", 200, 403), ("support_line_3", 200, 403), ("auditor", 200, 403),
    ("service_level_lead", 200, 200), ("administrator", 200, 200),
])
def test_who_sees_and_registers(login_as, role, list_status, new_status):
    client = login_as(role)
    assert client.get("/suppliers/").status_code == list_status
    assert client.get("/suppliers/VEN-EQM").status_code == list_status
    assert client.get("/suppliers/new").status_code == new_status


def test_register_edit_and_evaluate_on_the_pages(login_as, db):
    lead = login_as("service_level_lead")
    created = lead.post("/suppliers/new", data=FORM)
    assert created.status_code == 302 and created.headers["Location"].endswith("/suppliers/VEN-NET")
    page = lead.get("/suppliers/VEN-NET").get_data(as_text=True)
    assert "示范网络工程公司" in page and 'id="evaluation-form"' in page
    assert lead.post("/suppliers/VEN-NET/edit", data={**FORM, "contact_phone": "0871-1"}).status_code == 302
    assert db.session.scalar(select(Vendor.contact_phone).where(Vendor.code == "VEN-NET")) == "0871-1"
    assert lead.post("/suppliers/VEN-NET/staff", data={"username": "line2"}).status_code == 302
    assert 'data-user="line2"' in lead.get("/suppliers/VEN-NET").get_data(as_text=True)
    ok = lead.post("/suppliers/VEN-NET/evaluations", data={"period": "2026-H2", "quality": "4", "timeliness": "5",
                                                           "cooperation": "3", "comment": "响应及时"})
    assert ok.status_code == 302
    assert 'data-period="2026-H2"' in lead.get("/suppliers/VEN-NET").get_data(as_text=True)
    again = lead.post("/suppliers/VEN-NET/evaluations", data={"period": "2026-H2", "quality": "1", "timeliness": "1",
                                                              "cooperation": "1", "comment": "重复"})
    assert again.status_code == 409 and "重复" in again.get_data(as_text=True)  # the typed comment is kept
    assert lead.post("/suppliers/VEN-NET/active", data={"active": "0"}).status_code == 302
    assert 'data-code="VEN-NET"' not in lead.get("/suppliers/").get_data(as_text=True)
    assert 'data-code="VEN-NET"' in lead.get("/suppliers/?inactive=1").get_data(as_text=True)


def test_a_refused_form_keeps_what_was_typed(login_as, db):
    page = login_as("service_level_lead").post("/suppliers/new", data={**FORM, "contract_end": "2025-01-01"})
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert 'id="e-contract_end"' in html and 'value="示范网络工程公司"' in html
    assert db.session.scalar(select(func.count()).select_from(Vendor).where(Vendor.code == "VEN-NET")) == 0
    bad = login_as("service_level_lead").post("/suppliers/VEN-EQM/evaluations", data={
        "period": "2026-H2", "quality": "9", "timeliness": "5", "cooperation": "3"})
    assert bad.status_code == 400 and 'id="e-quality"' in bad.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(VendorEvaluation)) == 0


@pytest.mark.parametrize("path, data", [
    ("/suppliers/new", FORM), ("/suppliers/VEN-EQM/edit", FORM), ("/suppliers/VEN-EQM/active", {"active": "0"}),
    ("/suppliers/VEN-EQM/staff", {"username": "line2"}), ("/suppliers/VEN-EQM/staff/line3/remove", {}),
    ("/suppliers/VEN-EQM/evaluations", {"period": "2026", "quality": "3", "timeliness": "3", "cooperation": "3"}),
])
@pytest.mark.parametrize("role", ["auditor", "service_desk", "support_line_3"])
def test_only_managers_change_suppliers(login_as, db, role, path, data):
    assert login_as(role).post(path, data=data).status_code == 403
    vendor = db.session.scalar(select(Vendor).where(Vendor.code == "VEN-EQM"))
    assert vendor.active and [s.user.username for s in vendor.staff] == ["line3"] and vendor.evaluations == []


def test_supplier_forms_need_their_csrf_token(app, login_as, db):
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        assert login_as("service_level_lead").post("/suppliers/new", data=FORM).status_code == 400
    finally:
        app.config["WTF_CSRF_ENABLED"] = False
    assert db.session.scalar(select(func.count()).select_from(Vendor).where(Vendor.code == "VEN-NET")) == 0


def test_api(client, api_as, db):
    lead, desk = api_as("service_level_lead"), api_as("service_desk")
    listed = client.get("/api/v1/suppliers", headers=desk).get_json()["items"]
    assert [v["code"] for v in listed] == ["VEN-EQM"] and listed[0]["kind"] == "application"
    assert client.get("/api/v1/suppliers", headers=api_as("requester")).status_code == 403
    created = client.post("/api/v1/suppliers", headers=lead, json={k: v for k, v in FORM.items()})
    assert created.status_code == 201 and created.get_json()["contract_end"] == "2026-12-31"
    assert client.post("/api/v1/suppliers", headers=desk, json={**FORM, "code": "X"}).status_code == 403
    bad = client.post("/api/v1/suppliers", headers=lead, json={**FORM, "code": "VEN-2", "contract_end": "x"})
    assert bad.status_code == 400 and "contract_end" in bad.get_json()["errors"]
    patched = client.patch("/api/v1/suppliers/VEN-NET", headers=lead, json={"contact_name": "赵工"})
    assert patched.status_code == 200 and patched.get_json()["changed"] == ["contact_name"]
    assert client.post("/api/v1/suppliers/VEN-NET/staff", headers=lead, json={"username": "line3"}).status_code == 409
    assert client.post("/api/v1/suppliers/VEN-NET/staff", headers=lead, json={"username": "line2"}).status_code == 201
    assert client.delete("/api/v1/suppliers/VEN-NET/staff/line2", headers=lead).status_code == 200
    scored = client.post("/api/v1/suppliers/VEN-NET/evaluations", headers=lead,
                         json={"period": "2026-Q4", "quality": 5, "timeliness": 4, "cooperation": 3})
    assert scored.status_code == 201 and scored.get_json()["average_score"] == 4.0
    assert client.post("/api/v1/suppliers/VEN-NET/evaluations", headers=lead, json={
        "period": "2026-Q4", "quality": 5, "timeliness": 4, "cooperation": 3}).status_code == 409
    shown = client.get("/api/v1/suppliers/VEN-EQM?period=2026-11", headers=desk).get_json()
    assert shown["staff"] == ["line3"] and shown["process_control"]["period"] == "2026-11"
    assert client.get("/api/v1/suppliers/VEN-EQM?period=bad", headers=desk).status_code == 400
    assert client.get("/api/v1/suppliers/NOPE", headers=desk).status_code == 404
    assert "/api/v1/suppliers/{code}/evaluations" in client.get("/api/v1/openapi.json").get_json()["paths"]


def test_assets_name_their_supplier(login_as, db, user, client, api_as):
    from app.services import assets

    form = login_as("configuration_lead").get("/assets/new").get_data(as_text=True)
    assert '<datalist id="supplier-names"><option value="示范环境软件有限公司">' in form
    assert "<label for=\"serial_number\">序列号</label>" in form  # labels, not field names
    made = assets.create_asset(user("configuration_lead"), asset_type="server", name="应用服务器",
                               supplier="示范环境软件有限公司")
    db.session.commit()
    page = login_as("service_desk").get("/suppliers/VEN-EQM").get_data(as_text=True)
    assert f'data-tag="{made.tag}"' in page
    shown = client.get("/api/v1/suppliers/VEN-EQM", headers=api_as("service_desk")).get_json()
    assert shown["assets"] == [made.tag]
