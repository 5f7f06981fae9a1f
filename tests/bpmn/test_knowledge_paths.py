"""Every path of knowledge.bpmn (spec 6.1.10, Table 11) through the engine alone; every sequence flow is taken.

The process is started by the message knowledge_requested (from incident, problem, ... or by hand through the
start form); knowledge_state (draft, under_review, published, retired) is mirrored onto the article.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.bpmn.conftest import Coverage, all_flows, load
from tests.bpmn.driver import drive, flows_taken, form_schema, form_validator, path_form_errors

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "knowledge"
STATES = {"draft", "under_review", "published", "retired"}


# -- start data and form data for each step ----------------------------------------------------

def by_hand(**over: Any) -> dict[str, Any]:
    """What the start form posts (origin_key is read-only there: empty for a hand start)."""
    data = {"title": "监测数据库连接超时的处理", "body": "现象：查询超时。处理：扩大连接池并重启监听。",
            "category": "application", "attachments": ["处理记录.docx"], "origin_key": ""}
    data.update(over)
    return data


def from_incident() -> dict[str, Any]:
    """The payload another process throws with knowledge_requested."""
    return {"origin_key": "INC-20261125-0001", "origin_process": "incident", "title": "打印机脱机",
            "body": "重新安装驱动后恢复", "category": "terminal"}


def classify(outcome: str = "new") -> dict[str, Any]:
    data: dict[str, Any] = {"category": "application", "knowledge_source": "incident", "keywords": ["连接池", "超时"],
                            "classification_outcome": outcome}
    if outcome == "merge":
        data["merge_into"] = "KB-12"
    if outcome == "reject":
        data["classification_note"] = "与 KB-12 内容相同"
    return data


def review(outcome: str) -> dict[str, Any]:
    data: dict[str, Any] = {"title": "监测数据库连接超时的处理", "body": "现象：查询超时。处理：扩大连接池并重启监听。",
                            "review_outcome": outcome}
    if outcome == "approve":
        data["share_scope"] = "operations"
    else:
        data["review_comment"] = "请补充适用版本" if outcome == "rework" else "内容不准确"
    return data


def revise() -> dict[str, Any]:
    return {"title": "监测数据库连接超时的处理（Oracle 19c）", "body": "适用 Oracle 19c。现象：查询超时。",
            "category": "application", "attachments": ["处理记录.docx"], "revision_note": "补充适用版本"}


def evaluate(decision: str) -> dict[str, Any]:
    data: dict[str, Any] = {"evaluation_methods": ["usage_statistics", "feedback"], "usage_count": 42,
                            "feedback_summary": "多数反馈有用", "evaluation_conclusion": "仍被频繁使用",
                            "maintenance_decision": decision}
    if decision == "update":
        data["update_notes"] = "增加 Oracle 21c 的参数"
    return data


# Each path: the start data and the (task spec id, form data) steps in order; the final knowledge_state.
PATHS: dict[str, tuple[dict, list[tuple], str]] = {
    "duplicate_rejected": (by_hand(), [
        ("identify_and_classify", classify("reject")),
    ], "draft"),
    # From an incident: rework by the submitter, publish, the evaluation asks for an update, re-review,
    # publish again, then keep.
    "rework_publish_update_keep": (from_incident(), [
        ("identify_and_classify", classify("new")),
        ("filter_and_review", review("rework")),
        ("revise_knowledge", revise()),
        ("filter_and_review", review("approve")),
        ("evaluate_and_maintain", evaluate("update")),
        ("filter_and_review", review("approve")),
        ("evaluate_and_maintain", evaluate("keep")),
    ], "published"),
    "merged_then_not_adopted": (by_hand(), [
        ("identify_and_classify", classify("merge")),
        ("filter_and_review", review("reject")),
    ], "draft"),
    "published_then_retired": (by_hand(), [
        ("identify_and_classify", classify("new")),
        ("filter_and_review", review("approve")),
        ("evaluate_and_maintain", evaluate("retire")),
    ], "retired"),
    # An update of a published article that the review does not adopt takes it out of the formal base.
    "update_not_adopted": (by_hand(), [
        ("identify_and_classify", classify("new")),
        ("filter_and_review", review("approve")),
        ("evaluate_and_maintain", evaluate("update")),
        ("filter_and_review", review("reject")),
    ], "retired"),
}
ENDS = {"duplicate_rejected": "duplicate_rejected", "rework_publish_update_keep": "knowledge_maintained",
        "merged_then_not_adopted": "knowledge_not_adopted", "published_then_retired": "knowledge_retired",
        "update_not_adopted": "knowledge_not_adopted"}


@pytest.fixture(scope="module")
def knowledge_process():
    return load(PROCESS)


def _schema(name: str) -> dict:
    return form_schema(PROCESS, name)


def _validator(name: str) -> jsonschema.Draft202012Validator:
    return form_validator(PROCESS, name)


# -- paths and coverage ----------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(knowledge_process, name):
    start_data, steps, final_state = PATHS[name]
    run, events, thrown = drive(knowledge_process, start_data, steps)
    assert run.completed
    assert run.ready_user_tasks() == [] and run.waiting_messages() == []
    assert thrown == []
    assert [e.spec_id for e in events if e.kind == "task_ready"] == [spec_id for spec_id, _ in steps]
    done = [e.spec_id for e in events if e.kind == "element_completed"]
    assert done[0] == "knowledge_requested" and done[-1] == ENDS[name]
    assert run.data()["knowledge_state"] == final_state
    Coverage.add(PROCESS, flows_taken(events))


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_validates_against_its_form(name):
    """The data of every step is what the application would accept."""
    start_data, steps, _ = PATHS[name]
    assert not path_form_errors(PROCESS, start_data, steps)


def _states(compiled, start_data: dict, steps: list[tuple]) -> list[str]:
    """knowledge_state after the start and after every step."""
    return [drive(compiled, start_data, steps[:i])[0].data()["knowledge_state"] for i in range(len(steps) + 1)]


def test_knowledge_state_follows_the_review(knowledge_process):
    start_data, steps, _ = PATHS["rework_publish_update_keep"]
    assert _states(knowledge_process, start_data, steps) == [
        "draft",          # submitted, waiting for classification
        "under_review",   # classified into the temporary base
        "draft",          # returned to the submitter
        "under_review",   # revised, back in the temporary base
        "published",      # approved: formal base
        "under_review",   # evaluation asks for an update: re-review
        "published",      # approved again
        "published",      # kept
    ]
    assert set(_states(knowledge_process, *PATHS["update_not_adopted"][:2])) <= STATES


def test_started_by_message_keeps_the_origin(knowledge_process):
    run, events, _ = drive(knowledge_process, from_incident(), [])
    data = run.data()
    assert data["origin_key"] == "INC-20261125-0001" and data["origin_process"] == "incident"
    assert data["title"] == "打印机脱机" and data["category"] == "terminal"
    assert data["business_key"] and data["process_id"] == "knowledge"
    assert [t.spec_id for t in run.ready_user_tasks()] == ["identify_and_classify"]
    assert knowledge_process.message_start == "knowledge_requested"
    assert "flow_knowledge_requested_to_record_draft" in flows_taken(events)


def test_started_by_hand_without_origin(knowledge_process):
    """The application does not post read-only fields: origin_key and origin_process default to ""."""
    start_data = {k: v for k, v in by_hand().items() if k != "origin_key"}
    assert not list(_validator("start.schema.json").iter_errors(start_data))
    run, _, _ = drive(knowledge_process, start_data, [])
    data = run.data()
    assert data["origin_key"] == "" and data["origin_process"] == ""
    assert data["attachments"] == ["处理记录.docx"]


@pytest.mark.parametrize(("sent", "catalogued"), [
    ("application", "application"), ("process", "process"), ("database", "infrastructure"),
    ("network", "infrastructure"), ("something_else", "other"),
])
def test_categories_from_other_processes_land_in_the_catalogue(knowledge_process, sent, catalogued):
    run, _, _ = drive(knowledge_process, {**from_incident(), "category": sent}, [])
    assert run.data()["category"] == catalogued


def test_rework_goes_to_the_submitter_and_back_to_review(knowledge_process):
    run, _, _ = drive(knowledge_process, by_hand(), [
        ("identify_and_classify", classify()),
        ("filter_and_review", review("rework")),
    ])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "revise_knowledge" and task.data["review_comment"] == "请补充适用版本"
    assert task.data["revision_count"] == 1
    assert knowledge_process.user_tasks["revise_knowledge"].lane_id == "requester"
    run, _, _ = drive(knowledge_process, by_hand(), [
        ("identify_and_classify", classify()),
        ("filter_and_review", review("rework")),
        ("revise_knowledge", revise()),
    ])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "filter_and_review"
    assert task.data["title"] == "监测数据库连接超时的处理（Oracle 19c）"


def test_attachments_are_file_names():
    prop = _schema("start.schema.json")["properties"]["attachments"]
    assert prop["type"] == "array" and prop["items"]["type"] == "string"
    categories = [c["const"] for c in _schema("start.schema.json")["properties"]["category"]["oneOf"]]
    # The catalogue, plus the incident/problem categories that record_draft files under infrastructure.
    assert categories[:6] == ["infrastructure", "application", "terminal", "security", "process", "other"]
    assert set(categories[6:]) == {"hardware", "network", "system_software", "database"}


# -- lanes ---------------------------------------------------------------------------------------

def test_lanes_are_the_spec_roles(knowledge_process):
    lanes = {meta.spec_id: meta.lane_id for meta in knowledge_process.user_tasks.values()}
    assert lanes == {
        "identify_and_classify": "knowledge_operator",   # 表11 步骤1 知识管理操作员
        "filter_and_review": "knowledge_lead",           # 步骤2 知识管理组长
        "revise_knowledge": "requester",                 # 退回知识提交人修改
        "evaluate_and_maintain": "knowledge_operator",   # 步骤4（表中为配置管理组长）
    }
    assert knowledge_process.elements["publish_and_share"]["lane"] == "knowledge_lead"  # 步骤3 知识管理组长


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS)
    taken = Coverage.taken.get(PROCESS, set())
    missing = expected - taken
    print(f"\n{PROCESS}.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
