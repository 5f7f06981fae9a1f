"""IT assets: lifecycle, assignment, reminders, spare stock, statistics, CI link, access; and the pages."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.models import ConfigurationItem
from app.services import assets
from app.services.errors import Conflict, Forbidden, ValidationFailed


def test_lifecycle_assignment_and_history(db, user):
    lead = user("configuration_lead")
    pc = assets.create_asset(lead, asset_type="pc", name="办公电脑", serial_number="PC-001", location="仓库")
    assert pc.tag == "AP-COUNTY-00001" and pc.status == "procurement"
    with pytest.raises(Conflict):
        assets.transition(lead, pc, "in_use")  # procurement -> stock first
    with pytest.raises(Conflict):
        assets.assign(lead, pc, user("reporter"))
    assets.transition(lead, pc, "stock")
    assets.assign(lead, pc, user("reporter"), "三楼301")
    assert pc.status == "in_use" and pc.assigned_user.username == "reporter" and pc.location == "三楼301"
    assets.transition(lead, pc, "repair")
    assets.transition(lead, pc, "stock")
    assert pc.assigned_user_id is None  # back in stock: unassigned
    assets.transition(lead, pc, "retired")
    with pytest.raises(Conflict):
        assets.transition(lead, pc, "stock")
    fields = [h.field for h in assets.history(pc)]
    assert fields.count("status") == 5 and "assigned_user" in fields and fields[-1] == "created"
    with pytest.raises(ValidationFailed):
        assets.create_asset(lead, asset_type="spaceship", name="x")


def test_reminders_low_stock_statistics_and_ci_link(db, user):
    lead = user("configuration_lead")
    today = date(2026, 11, 25)
    srv = assets.create_asset(lead, asset_type="server", name="数据库服务器", warranty_end=today + timedelta(days=10),
                              contract_end=(today + timedelta(days=200)).isoformat())
    lic = assets.create_asset(lead, asset_type="software_licence", name="数据库许可", contract_end="2026-11-20")
    spare = assets.create_asset(lead, asset_type="spare", name="光模块", quantity=5, min_stock=3)
    rows = assets.reminders(lead, 30, today)
    assert [(r["asset"].tag, r["kind"], r["days_left"]) for r in rows] == [
        (lic.tag, "contract_end", -5), (srv.tag, "warranty_end", 10)]
    assert len(assets.reminders(lead, 365, today)) == 3
    assert assets.low_stock(lead) == []
    assets.adjust_stock(lead, spare, -2)
    assert assets.low_stock(lead) == [spare]
    with pytest.raises(Conflict):
        assets.adjust_stock(lead, spare, -4)
    stats = assets.statistics(lead)
    assert stats["total"] == 3 and stats["by_status"]["procurement"] == 3 and stats["spare_units"] == 3
    ci = db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == "SRV-DB-01"))
    assets.link_ci(lead, srv, ci)
    assert srv.ci.code == "SRV-DB-01"
    with pytest.raises(ValidationFailed):
        assets.update_asset(lead, srv, {"warranty_end": "31/12/2026"})


def test_access(db, user):
    with pytest.raises(Forbidden):
        assets.create_asset(user("line1"), asset_type="pc", name="x")
    with pytest.raises(Forbidden):
        assets.list_assets(user("reporter"))
    assert assets.list_assets(user("line1")) == []


def test_asset_pages(login_as, db):
    lead = login_as("configuration_lead")
    created = lead.post("/assets/new", data={"asset_type": "printer", "name": "打印机", "warranty_end": "2026-12-01",
                                             "quantity": "1", "min_stock": "0"})
    assert created.status_code == 302
    tag = created.headers["Location"].rsplit("/", 1)[-1]
    lead.post(f"/assets/{tag}/status", data={"status": "stock"})
    lead.post(f"/assets/{tag}/assign", data={"username": "reporter", "location": "二楼"})
    page = lead.get(f"/assets/{tag}").data.decode()
    assert "in_use" in page and "二楼" in page
    lead.post(f"/assets/{tag}/ci", data={"ci": "SRV-DB-01"})
    assert tag in lead.get("/cmdb/SRV-DB-01").data.decode()  # the CI page lists the asset it represents
    assert tag in lead.get("/assets/reminders?days=3650").data.decode()
    assert 'id="total"' in lead.get("/assets/stats").data.decode()
    assert login_as("support_line_1").post(f"/assets/{tag}/status", data={"status": "repair"}).status_code == 403
    assert login_as("requester").get("/assets").status_code == 403
