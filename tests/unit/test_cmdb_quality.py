"""CMDB data quality (spec 6.1.5 Table 6, configuration status verification and audit): each check finds what
it names, on live CIs the user may see, and nothing else."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.models.base import utcnow
from app.services import cmdb, cmdb_quality
from app.services.errors import Forbidden, ValidationFailed


def _keys(found, check):
    return {f.key for f in found[check]}


def _codes(found, check):
    return {ci.code for f in found[check] for ci in f.cis}


@pytest.fixture
def messy(db, user):
    lead = user("configuration_lead")
    make = lambda name, ci_type="server", status="in_use", **attrs: cmdb.create_ci(  # noqa: E731
        lead, ci_type=ci_type, name=name, status=status, attributes=attrs)
    twins = [make("库服务器A", hostname="DB-TWIN", ip_address="10.9.0.1", serial_number="SN-1"),
             make("库服务器B", hostname="db-twin", ip_address="10.9.0.1", serial_number="SN-1")]
    gone = make("旧存储", ci_type="storage", status="retired", serial_number="SN-OLD")
    still = make("仍依赖旧存储", serial_number="SN-2")
    cmdb.add_relation(lead, still, "depends_on", gone)
    for twin in twins:
        cmdb.add_relation(lead, twin, "connected_to", still)
    alone = make("孤立服务器", serial_number="SN-3")
    unnumbered = make("无序列号交换机", ci_type="network_device")
    cmdb.add_relation(lead, unnumbered, "connected_to", still)
    manual = make("运维手册", ci_type="document")  # documents need no relations
    retired_twin = make("已报废同名", status="retired", hostname="db-twin")  # retired: not a duplicate
    old = make("久未更新", serial_number="SN-4")
    cmdb.add_relation(lead, old, "depends_on", still)
    old.updated_at = utcnow() - timedelta(days=400)
    db.session.flush()
    return {"twins": twins, "gone": gone, "still": still, "alone": alone, "unnumbered": unnumbered,
            "manual": manual, "retired_twin": retired_twin, "old": old}


def test_each_check_finds_what_it_names(db, user, messy):
    found = cmdb_quality.findings(user("configuration_lead"))
    twins = {ci.code for ci in messy["twins"]}
    assert "db-twin" in _keys(found, "duplicate_hostname")
    (hosts,) = [f for f in found["duplicate_hostname"] if f.key == "db-twin"]
    assert {ci.code for ci in hosts.cis} == twins  # the retired namesake is not a duplicate
    assert "10.9.0.1" in _keys(found, "duplicate_ip") and "SN-1" in _keys(found, "duplicate_serial")
    assert messy["alone"].code in _keys(found, "orphan")
    assert messy["manual"].code not in _keys(found, "orphan") and messy["still"].code not in _keys(found, "orphan")
    (dep,) = [f for f in found["depends_on_retired"] if f.key == messy["still"].code]
    assert dep.detail == {"relation": "depends_on", "target": messy["gone"].code, "target_status": "retired"}
    assert messy["unnumbered"].code in _keys(found, "missing_serial")
    assert messy["manual"].code not in _keys(found, "missing_serial")  # documents have no serial number
    assert _keys(found, "stale") & {ci.code for ci in messy.values() if not isinstance(ci, list)} == {
        messy["old"].code}
    assert messy["retired_twin"].code not in set().union(*(_codes(found, c) for c in cmdb_quality.CHECKS
                                                            if c != "depends_on_retired"))
    longer = cmdb_quality.findings(user("configuration_lead"), stale_days=500)
    assert messy["old"].code not in _keys(longer, "stale")


def test_scope_and_access(db, user, messy):
    city = cmdb_quality.findings(user("admin"))
    assert messy["alone"].code in _keys(city, "orphan")  # administrators see every organisation
    for name in ("desk", "line1", "reporter", "change_lead"):
        with pytest.raises(Forbidden):
            cmdb_quality.findings(user(name))
    assert cmdb_quality.findings(user("auditor"))["orphan"]
    for bad in (0, 10, 5000, "x"):
        with pytest.raises(ValidationFailed):
            cmdb_quality.findings(user("configuration_lead"), stale_days=bad)
