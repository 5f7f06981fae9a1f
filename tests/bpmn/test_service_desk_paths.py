"""Every path of service_desk.bpmn (6.1.1 服务台) through the engine alone; every sequence flow is taken."""
from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from app.engine.definitions import evaluate_decision, load_decision
from tests.bpmn.conftest import ROOT, Coverage, all_flows, load
from tests.bpmn.driver import drive, flows_taken

PROCESS_ID = "service_desk"
FORMS = ROOT / "forms" / PROCESS_ID
# Filled in by the application from the desk member's profile (readOnly in the form, required).
APP_FILLED = {"record_request": {"desk_tier"}}


@pytest.fixture(scope="module")
def service_desk():
    return load(PROCESS_ID)


# -- form data --------------------------------------------------------------------------------
def start_data(**over: Any) -> dict[str, Any]:
    data = {
        "channel": "phone",
        "reporter_name": "李四",
        "reporter_contact": "13900000000",
        "summary": "污染源监控系统无法登录",
        "description": "上午起登录页面提示“服务不可用”，多名用户受影响",
    }
    data.update(over)
    return data


def record(request_type: str, desk_tier: str = "skilled", **over: Any) -> dict[str, Any]:
    """受理和记录: the fields each request type needs (impact etc. only where the form requires them)."""
    data = {k: v for k, v in start_data().items() if k != "channel"}
    data.update({"desk_tier": desk_tier, "request_type": request_type})
    if request_type == "incident":
        data.update({"impact": "high", "urgency": "medium", "category": "application"})
    if request_type == "service_request":
        data["service_request_kind"] = "disk_space"
    if request_type == "change_request":
        data.update({"summary": "增加监测站点数据接口", "description": "新增 12 个自动监测站点的数据接入"})
    if request_type == "consultation":
        data.update({"summary": "如何导出月报", "description": "询问月度排放报表的导出方法"})
    data.update(over)
    return data


def attempt(solved: bool) -> dict[str, Any]:
    if solved:
        return {"solved": True, "solution": "按知识库 KB-7 清理浏览器缓存后重新登录", "knowledge_refs": ["KB-7"]}
    return {"solved": False, "knowledge_refs": []}


def confirm_and_close(confirmed: bool) -> dict[str, Any]:
    if confirmed:
        return {"user_confirmed": True, "satisfaction": 5}
    return {"user_confirmed": False, "feedback": "仍然无法登录"}


def fulfil() -> dict[str, Any]:
    return {"fulfilment_notes": "已清理日志分区，释放 40GB", "affected_cis": ["SRV-DB-01"]}


def confirm_fulfilment(satisfied: bool) -> dict[str, Any]:
    if satisfied:
        return {"satisfied": True, "satisfaction": 4}
    return {"satisfied": False, "feedback": "空间仍不足", "satisfaction": 2}


def notify() -> dict[str, Any]:
    return {"notified_via": "phone", "notification": "变更已实施并关闭，新站点数据已接入"}


def answer() -> dict[str, Any]:
    return {"answer": "在“报表—月报”页面选择月份后点击导出", "knowledge_refs": ["KB-12"]}


CHANGE_CLOSED = {"reply_to": "SER-TEST-0001", "outcome": "successful", "change_key": "CHG-TEST-0001"}

# Each path: start data, the steps in the order they become ready, and where it must end.
PATHS: dict[str, tuple[dict, list[tuple], str]] = {
    "call_taking_hands_incident_over": (start_data(), [
        ("record_request", record("incident", desk_tier="call_taking")),
    ], "incident_handed_over"),
    "skilled_desk_solves_and_user_confirms": (start_data(channel="web"), [
        ("record_request", record("incident", desk_tier="skilled")),
        ("attempt_documented_solution", attempt(True)),
        ("confirm_and_close", confirm_and_close(True)),
    ], "closed_at_desk"),
    "basic_desk_cannot_solve": (start_data(channel="email"), [
        ("record_request", record("incident", desk_tier="basic")),
        ("attempt_documented_solution", attempt(False)),
    ], "incident_handed_over"),
    "expert_solves_but_user_does_not_confirm": (start_data(channel="system"), [
        ("record_request", record("incident", desk_tier="expert", category="network", urgency="high")),
        ("attempt_documented_solution", attempt(True)),
        ("confirm_and_close", confirm_and_close(False)),
    ], "incident_handed_over"),
    "change_request_waits_for_change_closed": (start_data(channel="written"), [
        ("record_request", record("change_request", desk_tier="call_taking")),
        ("message", "change_closed", CHANGE_CLOSED),
        ("notify_requester", notify()),
    ], "change_request_closed"),
    "service_request_reopened_then_closed": (start_data(channel="verbal"), [
        ("record_request", record("service_request", service_request_kind="backup_restore")),
        ("fulfil_request", fulfil()),
        ("confirm_fulfilment", confirm_fulfilment(False)),
        ("fulfil_request", fulfil()),
        ("confirm_fulfilment", confirm_fulfilment(True)),
    ], "request_closed"),
    "password_request_fulfilled_by_desk": (start_data(channel="inspection"), [
        ("record_request", record("service_request", desk_tier="basic", service_request_kind="password")),
        ("fulfil_request", fulfil()),
        ("confirm_fulfilment", confirm_fulfilment(True)),
    ], "request_closed"),
    "consultation_answered": (start_data(), [
        ("record_request", record("consultation", desk_tier="expert")),
        ("answer_consultation", answer()),
    ], "consultation_answered"),
}


def _form(name: str) -> dict:
    return json.loads((FORMS / name).read_text(encoding="utf-8"))


def _completed(events) -> list[str]:
    return [e.spec_id for e in events if e.kind == "element_completed"]


# -- paths --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(service_desk, name):
    start, steps, end = PATHS[name]
    run, events, _ = drive(service_desk, start, steps)
    assert run.completed, f"{name}: still waiting; ready: {[t.spec_id for t in run.ready_user_tasks()]}"
    assert run.ready_user_tasks() == []
    assert _completed(events)[-1] == end
    Coverage.add(PROCESS_ID, flows_taken(events))


@pytest.mark.parametrize("name", sorted(PATHS))
def test_path_data_is_valid_form_data(name):
    """Every step's data validates against its form, as the application validates submissions."""
    start, steps, _ = PATHS[name]
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    start_form = _form("start.schema.json")
    jsonschema.Draft202012Validator(start_form, format_checker=checker).validate(start)
    for step in steps:
        if step[0] == "message":
            continue
        spec_id, data = step
        schema = _form(f"{spec_id}.schema.json")
        jsonschema.Draft202012Validator(schema, format_checker=checker).validate(data)
        # Application-filled fields are read-only in the form; everything else is an input.
        for field in APP_FILLED.get(spec_id, set()):
            assert schema["properties"][field].get("readOnly") is True


def test_every_form_is_used_and_follows_the_conventions(service_desk):
    files = {p.name for p in FORMS.glob("*.schema.json")}
    used = {m.form_file.rsplit("/", 1)[-1] for m in service_desk.user_tasks.values()}
    assert service_desk.start_form.rsplit("/", 1)[-1] == "start.schema.json"
    used.add("start.schema.json")
    assert files == used
    for name in files:
        schema = _form(name)
        jsonschema.Draft202012Validator.check_schema(schema)
        assert schema["type"] == "object" and schema["additionalProperties"] is False
        assert set(schema["x-order"]) == set(schema["properties"])
        assert all(schema["properties"][f].get("title") for f in schema["properties"])


# -- the desk member's tier -------------------------------------------------------------------
@pytest.mark.parametrize("tier, next_task", [
    ("call_taking", None),
    ("basic", "attempt_documented_solution"),
    ("skilled", "attempt_documented_solution"),
    ("expert", "attempt_documented_solution"),
])
def test_call_taking_only_records_and_routes(service_desk, tier, next_task):
    """接线服务只记录呼叫，不提供解决方法；其他角色先按文档化的解决方案尝试处理。"""
    run, events, thrown = drive(service_desk, start_data(), [("record_request", record("incident", desk_tier=tier))])
    if next_task is None:
        assert run.completed and [name for name, _ in thrown] == ["incident_requested"]
        assert "attempt_documented_solution" not in _completed(events)
    else:
        assert [t.spec_id for t in run.ready_user_tasks()] == [next_task]
        assert thrown == []


def test_desk_tasks_are_offered_to_the_service_desk_group(service_desk):
    for spec_id in ("record_request", "attempt_documented_solution", "confirm_and_close",
                    "notify_requester", "answer_consultation"):
        meta = service_desk.user_tasks[spec_id]
        assert (meta.lane_id, meta.group_variable) == ("desk", "desk_group"), spec_id
    assert service_desk.user_tasks["fulfil_request"].group_variable == "fulfil_group"
    assert service_desk.user_tasks["confirm_fulfilment"].lane_id == "requester"
    assert service_desk.user_tasks["attempt_documented_solution"].properties["knowledgeLookup"] == "true"
    run, _, _ = drive(service_desk, start_data(), [])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "record_request" and task.data["desk_group"] == "service_desk"


# -- messages -----------------------------------------------------------------------------------
def test_incident_requested_payload(service_desk):
    start, steps, _ = PATHS["expert_solves_but_user_does_not_confirm"]
    run, _, thrown = drive(service_desk, start, steps)
    (name, payload), = thrown
    assert name == "incident_requested"
    assert payload == {
        "origin_key": run.data()["business_key"],
        "origin_process": "service_desk",
        "reporter_name": "李四",
        "reporter_contact": "13900000000",
        "channel": "system",
        "symptoms": start["description"],
        "impact": "high",
        "urgency": "high",
        "category": "network",
    }


def test_incident_handover_does_not_wait(service_desk):
    run, events, thrown = drive(service_desk, start_data(), [
        ("record_request", record("incident", desk_tier="call_taking"))])
    assert run.completed and run.waiting_messages() == []
    assert [name for name, _ in thrown] == ["incident_requested"]


def test_change_requested_payload_with_defaults(service_desk):
    """Impact and urgency are not asked for a change request: the record script defaults them to medium."""
    run, _, thrown = drive(service_desk, start_data(), [
        ("record_request", record("change_request"))])
    assert not run.completed and run.waiting_messages() == ["change_closed"]
    assert run.ready_user_tasks() == []
    (name, payload), = thrown
    assert name == "change_requested"
    assert payload == {
        "origin_key": run.data()["business_key"],
        "origin_process": "service_desk",
        "summary": "增加监测站点数据接口",
        "description": "新增 12 个自动监测站点的数据接入",
        "impact": "medium",
        "urgency": "medium",
        "risk": "medium",
        "change_type": "normal",
        "affected_cis": [],
        "ci_changes": [],
    }


def test_change_requested_keeps_given_impact(service_desk):
    _, _, thrown = drive(service_desk, start_data(), [
        ("record_request", record("change_request", impact="high", urgency="low"))])
    (_, payload), = thrown
    assert (payload["impact"], payload["urgency"]) == ("high", "low")


def test_change_result_reaches_the_desk(service_desk):
    run, _, thrown = drive(service_desk, start_data(), [
        ("record_request", record("change_request")),
        ("message", "change_closed", CHANGE_CLOSED),
    ])
    assert [name for name, _ in thrown] == ["change_requested"]
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "notify_requester"
    assert task.data["change_result"] == CHANGE_CLOSED


def test_paths_throw_only_their_messages(service_desk):
    expected = {
        "call_taking_hands_incident_over": ["incident_requested"],
        "skilled_desk_solves_and_user_confirms": [],
        "basic_desk_cannot_solve": ["incident_requested"],
        "expert_solves_but_user_does_not_confirm": ["incident_requested"],
        "change_request_waits_for_change_closed": ["change_requested"],
        "service_request_reopened_then_closed": [],
        "password_request_fulfilled_by_desk": [],
        "consultation_answered": [],
    }
    assert set(expected) == set(PATHS)
    for name, (start, steps, _) in PATHS.items():
        _, _, thrown = drive(service_desk, start, steps)
        assert [n for n, _ in thrown] == expected[name], name


# -- routing decision ---------------------------------------------------------------------------
ROUTING = load_decision((ROOT / "dmn" / "request_routing.dmn").read_bytes(), "request_routing.dmn")
KINDS = ["backup_restore", "disk_space", "new_user", "password", "other", ""]
EXPECTED_ROUTES = {
    ("service_request", "backup_restore"): ("fulfil_request", "support_line_2", "routing_rule_backup_restore"),
    ("service_request", "disk_space"): ("fulfil_request", "support_line_1", "routing_rule_disk_space"),
    ("service_request", "new_user"): ("fulfil_request", "support_line_1", "routing_rule_new_user"),
    ("service_request", "password"): ("fulfil_request", "service_desk", "routing_rule_password"),
    ("service_request", "other"): ("fulfil_request", "support_line_1", "routing_rule_other_service_request"),
    ("service_request", ""): ("fulfil_request", "support_line_1", "routing_rule_other_service_request"),
    **{("incident", k): ("start_incident", None, "routing_rule_incident") for k in KINDS},
    **{("change_request", k): ("start_change", None, "routing_rule_change_request") for k in KINDS},
    **{("consultation", k): ("answer_consultation", None, "routing_rule_consultation") for k in KINDS},
}


@pytest.mark.parametrize("request_type, kind", sorted(EXPECTED_ROUTES))
def test_routing_table(request_type, kind):
    """UNIQUE: every combination of the input domain matches exactly one rule."""
    result = evaluate_decision(ROUTING, {"request_type": request_type, "service_request_kind": kind})
    route, group, rule = EXPECTED_ROUTES[(request_type, kind)]
    assert result.hit_policy == "UNIQUE"
    assert result.outputs == {"route": route, "fulfil_group": group}
    assert [m.rule_id for m in result.matched] == [rule]


def test_every_routing_rule_is_used():
    rules = {rule for _, _, rule in EXPECTED_ROUTES.values()}
    assert len(rules) == len(ROUTING.decision_table.rules) == 8


@pytest.mark.parametrize("kind, group", [("backup_restore", "support_line_2"), ("disk_space", "support_line_1"),
                                         ("new_user", "support_line_1"), ("password", "service_desk")])
def test_fulfilment_goes_to_the_decided_group(service_desk, kind, group):
    run, events, _ = drive(service_desk, start_data(), [
        ("record_request", record("service_request", service_request_kind=kind))])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "fulfil_request" and task.data["fulfil_group"] == group
    (decision,) = [e for e in events if e.kind == "decision_evaluated"]
    assert decision.detail["decision_id"] == "request_routing"
    assert decision.detail["outputs"] == {"route": "fulfil_request", "fulfil_group": group}


def test_reopened_request_counts_and_returns_to_the_same_group(service_desk):
    run, _, _ = drive(service_desk, start_data(), [
        ("record_request", record("service_request", service_request_kind="new_user")),
        ("fulfil_request", fulfil()),
        ("confirm_fulfilment", confirm_fulfilment(False)),
    ])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "fulfil_request"
    assert (task.data["status"], task.data["reopen_count"], task.data["fulfil_group"]) == (
        "reopened", 1, "support_line_1")


# -- the record form ----------------------------------------------------------------------------
@pytest.mark.parametrize("data, valid", [
    (record("incident"), True),
    ({k: v for k, v in record("incident").items() if k != "impact"}, False),
    ({k: v for k, v in record("incident").items() if k != "category"}, False),
    (record("service_request"), True),
    ({k: v for k, v in record("service_request").items() if k != "service_request_kind"}, False),
    (record("service_request", service_request_kind=""), False),
    (record("change_request"), True),
    (record("consultation"), True),
    ({k: v for k, v in record("consultation").items() if k != "desk_tier"}, False),
    (record("consultation", desk_tier="manager"), False),
    ({**record("consultation"), "request_type": "complaint"}, False),
])
def test_record_form_requires_fields_by_request_type(data, valid):
    validator = jsonschema.Draft202012Validator(_form("record_request.schema.json"))
    assert validator.is_valid(data) is valid


# -- coverage -------------------------------------------------------------------------------------
def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS_ID)
    taken = Coverage.taken.get(PROCESS_ID, set())
    missing = expected - taken
    print(f"\nservice_desk.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
