"""Outsourcing management (spec 6.2(5)): suppliers' contracts, staff accounts, evaluations (result control) and
process control from the steps their staff really did."""
from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from app.models import HumanTask, SecurityEvent, User, Vendor
from app.models.base import utcnow
from app.services import vendors
from app.services.errors import Conflict, Forbidden, NotFound, ValidationFailed
from app.services.instances import claim_task, complete_task
from tests.replay_support import drive

NEW = {"code": "VEN-NET", "name": "示范网络工程公司", "kind": "infrastructure", "contract_no": "WL-2026-07",
       "contract_start": "2026-01-01", "contract_end": "2026-12-31", "contact_email": "net@example.org"}


def test_the_demo_supplier_and_its_engineer(db, user):
    vendor = vendors.get_vendor(user("desk"), "VEN-EQM")
    assert vendor.kind == "application" and [s.user.username for s in vendor.staff] == ["line3"]
    assert vendors.vendor_of(user("line3")) is vendor and vendors.vendor_of(user("line1")) is None


def test_register_change_and_end_a_supplier(db, user):
    lead = user("service_level_lead")
    vendor = vendors.create_vendor(lead, NEW)
    assert vendor.organisation_id == lead.organisation_id and vendor.contract_end == date(2026, 12, 31)
    changes = vendors.update_vendor(lead, vendor, {"contract_end": "2027-06-30", "contact_phone": "0871-1"})
    assert changes == {"contract_end": ["2026-12-31", "2027-06-30"], "contact_phone": ["", "0871-1"]}
    assert vendors.update_vendor(lead, vendor, {"contact_phone": "0871-1"}) == {}
    vendors.set_active(lead, vendor, False)
    assert vendor not in vendors.list_vendors(lead) and vendor in vendors.list_vendors(lead, include_inactive=True)
    logged = [(e.type, e.data.get("vendor")) for e in db.session.scalars(
        select(SecurityEvent).where(SecurityEvent.type.like("vendor_%")).order_by(SecurityEvent.id))]
    assert logged == [("vendor_created", "VEN-NET"), ("vendor_updated", "VEN-NET"), ("vendor_deactivated", "VEN-NET")]
    assert vendors.list_vendors(lead, "网络", include_inactive=True) == [vendor]
    assert vendors.list_vendors(lead, "%", include_inactive=True) == []  # a typed % means itself


@pytest.mark.parametrize(("fields", "bad"), [
    ({"code": "VEN-EQM"}, "code"), ({"code": "has space"}, "code"), ({"name": " "}, "name"),
    ({"kind": "bank"}, "kind"), ({"contract_end": "2025-12-31"}, "contract_end"),
    ({"contract_start": "31/12/2026"}, "contract_start"), ({"contact_email": "nobody"}, "contact_email"),
    ({"organisation": "mee"}, "organisation"), ({"organisation": "nowhere"}, "organisation"),
    ({"contract_no": "x" * 101}, "contract_no"), ({"colour": "red"}, "colour"),
])
def test_bad_fields_are_named_and_nothing_is_saved(db, user, fields, bad):
    with pytest.raises(ValidationFailed) as exc:
        vendors.create_vendor(user("service_level_lead"), {**NEW, **fields})
    assert set(exc.value.errors) == {bad}
    assert db.session.scalar(select(Vendor).where(Vendor.code == NEW["code"])) is None


def test_the_code_cannot_change(db, user):
    lead = user("service_level_lead")
    vendor = vendors.get_vendor(lead, "VEN-EQM")
    with pytest.raises(ValidationFailed) as exc:
        vendors.update_vendor(lead, vendor, {"code": "OTHER"})
    assert set(exc.value.errors) == {"code"}


def test_who_may_see_and_manage(db, user):
    with pytest.raises(Forbidden):
        vendors.list_vendors(user("reporter"))
    assert vendors.list_vendors(user("auditor"))
    eqm = vendors.get_vendor(user("admin"), "VEN-EQM")
    for name in ("desk", "auditor", "line3", "change_lead"):
        with pytest.raises(Forbidden):
            vendors.create_vendor(user(name), {**NEW, "code": f"V-{name}"})
        with pytest.raises(Forbidden):
            vendors.evaluate(user(name), eqm, "2026-11", {"quality": 5, "timeliness": 5, "cooperation": 5})
    city = vendors.create_vendor(user("admin"), {**NEW, "organisation": "city"})
    with pytest.raises(Forbidden):  # the county's service-level staff do not manage the city's contracts
        vendors.update_vendor(user("service_level_lead"), city, {"contact_phone": "1"})
    with pytest.raises(NotFound):
        vendors.get_vendor(user("desk"), "NOPE")


def test_staff_accounts(db, user):
    lead = user("service_level_lead")
    vendor = vendors.create_vendor(lead, NEW)
    vendors.add_staff(lead, vendor, "line2")
    with pytest.raises(Conflict):
        vendors.add_staff(lead, vendor, "line3")  # already the application supplier's engineer
    with pytest.raises(ValidationFailed):
        vendors.add_staff(lead, vendor, "ghost")
    vendors.remove_staff(lead, vendor, "line2")
    assert vendor.staff == []
    with pytest.raises(NotFound):
        vendors.remove_staff(lead, vendor, "line2")


def test_evaluations(db, user):
    lead = user("service_level_lead")
    vendor = vendors.get_vendor(lead, "VEN-EQM")
    vendors.evaluate(lead, vendor, "2026-H1", {"quality": 4, "timeliness": "3", "cooperation": 5}, "按时提交报告")
    vendors.evaluate(lead, vendor, "2026-Q3", {"quality": 5, "timeliness": 5, "cooperation": 5})
    assert sorted((e.period, e.overall) for e in vendor.evaluations) == [("2026-H1", 4.0), ("2026-Q3", 5.0)]
    assert vendors.average_score(vendor) == 4.5
    with pytest.raises(Conflict):
        vendors.evaluate(lead, vendor, "2026-Q3", {"quality": 1, "timeliness": 1, "cooperation": 1})
    for period, scores, bad in [("2026-13", {}, "period"), ("H2", {}, "period"),
                                ("2026-11", {"quality": 6}, "quality"), ("2026-11", {"timeliness": 0}, "timeliness"),
                                ("2026-11", {"cooperation": True}, "cooperation"),
                                ("2026-11", {"quality": "4.5"}, "quality")]:
        with pytest.raises(ValidationFailed) as exc:
            vendors.evaluate(lead, vendor, period, {"quality": 3, "timeliness": 3, "cooperation": 3, **scores})
        assert set(exc.value.errors) == {bad}, (period, scores)
    assert len(vendor.evaluations) == 2


def test_contract_reminders(db, user):
    lead = user("service_level_lead")
    today = date(2026, 12, 10)
    vendor = vendors.get_vendor(lead, "VEN-EQM")  # ends 2026-12-31
    assert vendors.contract_state(vendor, date(2026, 11, 1)) is None
    assert vendors.contract_state(vendor, today) == "ending"
    assert vendors.contract_state(vendor, date(2027, 1, 1)) == "expired"
    vendors.set_active(lead, vendor, False)
    assert vendors.contract_state(vendor, date(2027, 1, 1)) is None  # a former supplier needs no reminder


def test_process_control_counts_what_its_staff_did(db, user):
    """The county's third line works for the application supplier: an incident escalated to line 3 and solved
    there is the supplier's work; its resolution clock tells whether it was in time."""
    drive("desk_solves")  # a case the supplier never touches
    escalated = drive("escalations_problem_rfc_reopen", steps=4)  # record, desk, line 1 and line 2 escalate
    task = db.session.scalar(select(HumanTask).where(HumanTask.instance_id == escalated.id,
                                                     HumanTask.state == "ready"))
    assert task.spec_id == "investigate_and_diagnose"
    line3 = db.session.scalar(select(User).where(User.username == "line3"))
    held = vendors.process_control(user("desk"), vendors.vendor_of(line3))
    assert (held["open"], held["completed"], held["staff"]) == (0, 0, 1)  # a group task: nobody holds it yet
    claim_task(task.id, line3)
    task.due_at = utcnow() - timedelta(hours=1)
    db.session.flush()
    held = vendors.process_control(user("desk"), vendors.vendor_of(line3))
    assert (held["open"], held["overdue"]) == (1, 1)
    complete_task(task.id, line3, {"outcome": "solved", "diagnosis": "应用缺陷", "solution": "发布补丁",
                                   "root_cause_known": True})
    db.session.flush()
    control = vendors.process_control(user("desk"), vendors.vendor_of(line3))
    assert (control["completed"], control["completed_late"], control["cases"], control["open"]) == (1, 1, 1, 0)
    assert control["on_time_rate"] == 0.0
    assert control["timely_repair_rate"] is None  # the incident's resolution clock is still running


def test_contract_ending_notices_once_per_end_date(db, user):
    from app.models import Notification

    lead = user("service_level_lead")
    assert vendors.remind_contracts(date(2026, 11, 1)) == 0  # more than 30 days left
    written = vendors.remind_contracts(date(2026, 12, 10))
    notices = db.session.scalars(select(Notification).where(Notification.kind == "contract_ending")).all()
    assert written == len(notices) >= 2  # the county's service-level lead and operator
    mine = next(n for n in notices if n.user_id == lead.id)
    assert "示范环境软件有限公司" in mine.subject and "2026-12-31" in mine.subject and "还有 21 天" in mine.body
    assert vendors.remind_contracts(date(2026, 12, 11)) == 0  # once per end date
    vendor = vendors.get_vendor(lead, "VEN-EQM")
    vendors.update_vendor(lead, vendor, {"contract_end": "2026-12-20"})  # renegotiated: a new date, a new notice
    assert vendors.remind_contracts(date(2026, 12, 11)) == written
    vendors.set_active(lead, vendor, False)
    vendors.update_vendor(lead, vendor, {"contract_end": "2026-12-25"})
    assert vendors.remind_contracts(date(2026, 12, 11)) == 0  # a former supplier


def test_assets_supplied_by_name_or_code(db, user):
    from app.services import assets

    lead = user("configuration_lead")
    by_name = assets.create_asset(lead, asset_type="server", name="应用服务器", supplier=" 示范环境软件有限公司 ")
    by_code = assets.create_asset(lead, asset_type="software_licence", name="监测系统许可", supplier="ven-eqm")
    assets.create_asset(lead, asset_type="printer", name="打印机", supplier="别家公司")
    vendor = vendors.get_vendor(lead, "VEN-EQM")
    assert [a.tag for a in vendors.supplied_assets(lead, vendor)] == sorted([by_name.tag, by_code.tag])
    assert "示范环境软件有限公司" in vendors.names()
    vendors.set_active(user("service_level_lead"), vendor, False)
    assert "示范环境软件有限公司" not in vendors.names()  # a former supplier is not offered for new assets
