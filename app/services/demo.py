"""Demo data: a four-level organisation tree, one user per role, a few configuration items."""
from __future__ import annotations

from sqlalchemy import select

from ..extensions import db
from ..models import ConfigurationItem, KnowledgeArticle, Organisation, User
from ..models.identity import hash_password
from .identity import ROLES, create_organisation, create_user, ensure_groups

ORGS = [
    ("mee", "生态环境部信息中心", "national", None),
    ("prov", "示范省生态环境厅", "provincial", "mee"),
    ("city", "示范市生态环境局", "municipal", "prov"),
    ("county", "示范县生态环境分局", "county", "city"),
]

# username, display name, organisation, groups, desk tier
USERS: list[tuple[str, str, str, list[str], str | None]] = [
    ("admin", "系统管理员", "mee", ["administrator"], None),
    ("auditor", "审计员", "mee", ["auditor"], None),
    ("owner", "流程负责人", "mee", ["process_owner"], None),
    ("reporter", "普通用户(报障人)", "county", [], None),
    ("desk", "县服务台(技能型)", "county", ["service_desk"], "skilled"),
    ("desk_call", "县服务台(接线)", "county", ["service_desk"], "call_taking"),
    ("line1", "县一线支持", "county", ["support_line_1"], None),
    ("line2", "县二线支持", "county", ["support_line_2"], None),
    ("line3", "县三线支持(厂商)", "county", ["support_line_3"], None),
    ("incident_lead", "县事件管理组长", "county", ["incident_lead"], None),
    ("desk_city", "市服务台", "city", ["service_desk"], "expert"),
    ("line1_city", "市一线支持", "city", ["support_line_1"], None),
    ("line2_city", "市二线支持", "city", ["support_line_2"], None),
    ("line3_city", "市三线支持", "city", ["support_line_3"], None),
    ("incident_lead_city", "市事件管理组长", "city", ["incident_lead"], None),
    ("desk_prov", "省服务台", "prov", ["service_desk"], "expert"),
    ("line1_prov", "省一线支持", "prov", ["support_line_1"], None),
    ("line2_prov", "省二线支持", "prov", ["support_line_2"], None),
    ("desk_national", "部服务台", "mee", ["service_desk"], "expert"),
    ("line2_national", "部二线支持", "mee", ["support_line_2"], None),
]
# Every other role gets one user in the county organisation, named after the role code.
_COVERED = {g for _, _, _, groups, _ in USERS for g in groups}
USERS += [(code, name, "county", [code], None) for code, name, _ in ROLES if code not in _COVERED]
# The CAB votes: give it three members.
USERS += [("cab2", "CAB成员2", "county", ["cab"], None), ("cab3", "CAB成员3", "county", ["cab"], None)]

CIS = [
    ("SRV-DB-01", "环境质量数据库服务器", "server", "county"),
    ("APP-EQM", "环境质量监测系统", "application", "county"),
    ("NET-CORE-01", "核心交换机", "network_device", "county"),
    ("DB-ORA-01", "监测数据库", "database", "county"),
    ("WEB-PORTAL", "政务公开网站", "website", "city"),
]


# CMDB demo: a service and its supporting CIs, with class attributes and relations (impact analysis).
CIS += [
    ("SVC-EQM", "环境质量监测服务", "service", "county"),
    ("STO-SAN-01", "存储阵列", "storage", "county"),
]
CI_ATTRIBUTES = {
    "SRV-DB-01": {"ip_address": "10.0.1.10", "hostname": "srv-db-01", "os": "麒麟V10", "serial_number": "SN-2026-001",
                  "location": "县局机房A排3柜", "purchase_date": "2024-03-01", "supplier": "示范科技"},
    "NET-CORE-01": {"ip_address": "10.0.0.1", "hostname": "net-core-01", "location": "县局机房A排1柜"},
    "DB-ORA-01": {"engine": "Oracle", "version": "19c", "port": 1521},
    "APP-EQM": {"version": "3.2", "url": "https://eqm.example.org"},
    "SVC-EQM": {"service_level": "7x24", "service_users": "县局监测科及公众", "user_count": 120},
    "STO-SAN-01": {"capacity_tb": 40, "ip_address": "10.0.1.20", "hostname": "sto-san-01"},
}
# source, relation, target
CI_RELATIONS = [
    ("DB-ORA-01", "runs_on", "SRV-DB-01"),
    ("APP-EQM", "depends_on", "DB-ORA-01"),
    ("APP-EQM", "provides_service", "SVC-EQM"),
    ("SRV-DB-01", "connected_to", "NET-CORE-01"),
    ("SRV-DB-01", "depends_on", "STO-SAN-01"),
    ("WEB-PORTAL", "depends_on", "APP-EQM"),
]


ARTICLES = [
    ("数据库连接超时的处理方法", "检查监听器状态和连接池配置；重启监听器后验证应用连接。", "database"),
    ("用户口令重置流程", "核实身份后在统一认证平台重置口令，并要求首次登录修改。", "terminal"),
    ("核心交换机端口故障排查", "查看端口状态和错误计数，必要时更换光模块。", "network"),
]


def seed_demo(password: str) -> dict[str, int]:
    """Create demo organisations, users and CIs that do not exist yet (idempotent)."""
    ensure_groups()
    orgs = {o.code: o for o in db.session.scalars(select(Organisation))}
    for code, name, level, parent in ORGS:
        if code not in orgs:
            orgs[code] = create_organisation(code, name, level, orgs[parent] if parent else None)
    existing = set(db.session.scalars(select(User.username)))
    users = 0
    # Every demo user has the same, published password: hashing it once (not once per user, ~0.1 s each by
    # design) makes seeding seconds faster, and equal hashes tell nothing the README does not.
    shared_hash = hash_password(password) if any(u[0] not in existing for u in USERS) else None
    for username, display, org, groups, tier in USERS:
        if username in existing:
            continue
        create_user(username, None, orgs[org], display_name=display, groups=groups, desk_tier=tier,
                    email=f"{username}@example.org", password_hash=shared_hash)
        users += 1
    cis = 0
    known = set(db.session.scalars(select(ConfigurationItem.code)))
    for code, name, kind, org in CIS:
        if code not in known:
            db.session.add(ConfigurationItem(code=code, name=name, ci_type=kind, organisation_id=orgs[org].id))
            cis += 1
    _seed_cmdb()
    _seed_vendor(orgs)
    if not db.session.scalar(select(KnowledgeArticle.id).limit(1)):
        for title, body, category in ARTICLES:
            db.session.add(KnowledgeArticle(title=title, body=body, category=category))
    db.session.flush()
    return {"organisations": len(orgs), "users": users, "configuration_items": cis}


def _seed_vendor(orgs: dict[str, Organisation]) -> None:
    """The county's application supplier, whose engineer is the county's third line (Table 2: 三线支持为产品供应商)."""
    from datetime import date

    from ..models import Vendor, VendorStaff

    if db.session.scalar(select(Vendor.id).where(Vendor.code == "VEN-EQM")) is not None:
        return
    vendor = Vendor(code="VEN-EQM", name="示范环境软件有限公司", kind="application", organisation_id=orgs["county"].id,
                    contact_name="王工", contact_phone="010-00000000", contact_email="support@example.org",
                    contract_no="XQ-YW-2026-01", contract_start=date(2026, 1, 1), contract_end=date(2026, 12, 31),
                    service_scope="环境质量监测系统的三线支持、缺陷修复和版本发布",
                    service_terms="P1 事件 2 小时内响应、8 小时内恢复；每月提交运维报告")
    db.session.add(vendor)
    line3 = db.session.scalar(select(User).where(User.username == "line3"))
    if line3 is not None:
        db.session.add(VendorStaff(vendor=vendor, user=line3))


def _seed_cmdb() -> None:
    """Attributes and relations of the demo CIs (only where missing)."""
    from ..models import CIRelation

    db.session.flush()
    cis = {c.code: c for c in db.session.scalars(select(ConfigurationItem))}
    for code, attrs in CI_ATTRIBUTES.items():
        ci = cis.get(code)
        if ci is not None and not ci.attributes:
            ci.attributes = attrs
            ci.ip_address = attrs.get("ip_address")
            ci.hostname = attrs.get("hostname")
    existing = set(db.session.execute(select(CIRelation.source_id, CIRelation.rel_type, CIRelation.target_id)).all())
    for src, rel, tgt in CI_RELATIONS:
        if src in cis and tgt in cis and (cis[src].id, rel, cis[tgt].id) not in existing:
            db.session.add(CIRelation(source_id=cis[src].id, rel_type=rel, target_id=cis[tgt].id))
