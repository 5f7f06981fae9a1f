"""Valid form data for each incident step and the paths that together take every sequence flow.

Shared by tests/bpmn (engine only), tests/integration (HTTP) and benchmarks/engine.py.

A step is ("task_spec_id", form data) for a user task, or ("message", name, payload) for a message the
instance waits for (a reply from a linked process, e.g. problem_closed); MESSAGE_PATHS names the paths
that contain message steps.
"""
from __future__ import annotations

from typing import Any


def start_data(**over: Any) -> dict[str, Any]:
    data = {
        "reporter_name": "张三",
        "reporter_contact": "13800000000",
        "channel": "phone",
        "occurred_at": "2026-11-25T09:30:00+08:00",
        "symptoms": "监测数据库连接超时，页面无法查询",
        "error_codes": "ORA-12170",
        "impact": "high",
        "urgency": "medium",
        "category": "database",
    }
    data.update(over)
    return data


def record(in_scope: bool = True, **over: Any) -> dict[str, Any]:
    data = {k: v for k, v in start_data().items() if k != "channel"}
    data["affected_cis"] = []
    data["in_scope"] = in_scope
    if not in_scope:
        data["out_of_scope_reason"] = "不属于本单位运维范围"
    data.update(over)
    return data


def desk(solved: bool) -> dict[str, Any]:
    if solved:
        return {"desk_solved": True, "desk_solution": "按知识库 KB-1 重启监听器", "knowledge_refs": ["KB-1"]}
    return {"desk_solved": False}


def investigate(outcome: str, root_cause_known: bool = True) -> dict[str, Any]:
    data = {"outcome": outcome, "diagnosis": "连接池耗尽" if outcome == "solved" else "本线无法解决"}
    if outcome == "solved":
        data.update({"solution": "扩大连接池并重启服务", "root_cause_known": root_cause_known})
    return data


def leads(create_problem: bool) -> dict[str, Any]:
    return {"create_problem": create_problem, "problem_summary": "连接池反复耗尽，原因不明"}


def resolve(needs_change: bool) -> dict[str, Any]:
    data = {"resolution": "调整连接池参数，服务已恢复", "service_restored": True, "needs_change": needs_change}
    if needs_change:
        data["rfc_summary"] = "永久调整数据库连接池配置"
    return data


def confirm(confirmed: bool) -> dict[str, Any]:
    return {"confirmed": confirmed, "feedback": "已恢复" if confirmed else "问题仍然存在", "satisfaction": 4}


def close(submit_knowledge: bool = False) -> dict[str, Any]:
    data = {"closure_code": "resolved", "closure_note": "用户确认后关闭", "submit_knowledge": submit_knowledge}
    if submit_knowledge:
        data["knowledge_title"] = "监测数据库连接池耗尽的处理"
    return data


# Replies the linked processes send back (the application fills reply_to with the incident's key).
PROBLEM_CLOSED = {"reply_to": "<any>", "problem_key": "PRB-TEST-0001", "outcome": "resolved",
                  "known_error": "连接池参数不当", "workaround": "扩大连接池"}
CHANGE_CLOSED = {"reply_to": "<any>", "change_key": "CHG-TEST-0001", "outcome": "implemented"}

# Each path: the start data and the steps in the order they become ready: (task spec id, form data) for a
# user task, ("message", name, payload) for a message the instance then waits for.
PATHS: dict[str, tuple[dict, list[tuple]]] = {
    "out_of_scope": (start_data(), [("detect_and_record", record(in_scope=False))]),
    "desk_solves": (start_data(impact="low", urgency="low", category="terminal"), [
        ("detect_and_record", record(impact="low", urgency="low", category="terminal")),
        ("classify_and_first_support", desk(True)),
        ("confirm_resolution", confirm(True)),
        ("close_incident", close()),
    ]),
    "no_problem_submits_knowledge": (start_data(), [
        ("detect_and_record", record()),
        ("classify_and_first_support", desk(False)),
        ("investigate_and_diagnose", investigate("solved", root_cause_known=False)),
        ("report_to_leads", leads(False)),   # reported, but the leads create no problem
        ("resolve_and_recover", resolve(False)),
        ("confirm_resolution", confirm(True)),
        ("close_incident", close(submit_knowledge=True)),
    ]),
    "escalations_problem_rfc_reopen": (start_data(category="hardware"), [
        ("detect_and_record", record(category="hardware", affected_cis=["SRV-DB-01"])),
        ("classify_and_first_support", desk(False)),
        ("investigate_and_diagnose", investigate("escalate")),   # line 1 -> line 2
        ("investigate_and_diagnose", investigate("escalate")),   # line 2 -> line 3
        ("investigate_and_diagnose", investigate("escalate")),   # line 3 -> upper level desk
        ("classify_and_first_support", desk(False)),
        ("investigate_and_diagnose", investigate("solved", root_cause_known=False)),
        ("report_to_leads", leads(True)),
        ("resolve_and_recover", resolve(True)),
        ("confirm_resolution", confirm(False)),
        ("investigate_and_diagnose", investigate("solved")),
        ("resolve_and_recover", resolve(False)),
        ("confirm_resolution", confirm(True)),
        ("message", "problem_closed", PROBLEM_CLOSED),   # the incident waits for the problem, then the change
        ("message", "change_closed", CHANGE_CLOSED),
        ("close_incident", close()),
    ]),
}
# Paths with ("message", name, payload) steps; the others are user tasks only.
MESSAGE_PATHS = frozenset(name for name, (_, steps) in PATHS.items() if any(s[0] == "message" for s in steps))
SIMPLE_PATH = "desk_solves"

# The support group is too slow: after these steps investigate_and_diagnose waits with its non-interrupting
# boundary timer (support_too_slow, after `escalation_after` set by init_support from the priority); firing
# it notifies the incident lead and leaves the task with the support group. Used with a frozen clock.
SLOW_SUPPORT_STEPS: list[tuple] = PATHS["no_problem_submits_knowledge"][1][:2]
ESCALATION_AFTER = {"P1": "PT1H", "P2": "PT2H", "P3": "PT4H", "P4": "PT8H"}

# The field notes' yardstick for benchmarks/engine.py: an incident of three user tasks and one DMN table
# (benchmarks/reference/), the shape on which the notes measured SpiffWorkflow and SpiffArena.
REFERENCE_ID = "reference_incident"
REFERENCE_STEPS: list[tuple[str, dict]] = [
    ("record_incident", {"description": "系统登录失败", "impact": "high", "urgency": "medium"}),
    ("resolve_incident", {"solution": "重置账户锁定"}),
    ("close_incident", {"user_confirmed": True}),
]
