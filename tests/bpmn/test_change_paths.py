"""Every path of change.bpmn (spec 6.1.4, Table 4) through the engine alone; every sequence flow is taken."""
from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from app.engine.definitions import evaluate_decision, load_decision
from app.engine.runtime import ProcessRun
from tests.bpmn import test_emergency_change_paths as emergency
from tests.bpmn.conftest import Coverage, all_flows, load
from tests.bpmn.driver import drive, form_validator

ROOT = Path(__file__).resolve().parents[2]
PROCESS = "change"
BUSINESS_KEY = "CHA-TEST-0001"  # what the driver puts in the context
PROBLEM_KEY = "PRO-20261125-0003"
INCIDENT_KEY = "INC-20261125-0001"
CAB_MEMBERS = ["cab", "cab2", "cab3"]
CONNECTORS = {"group_members": lambda params: list(CAB_MEMBERS) if params["group"] == "cab" else []}


# -- form data for each step -------------------------------------------------------------------

def rfc(**over: Any) -> dict[str, Any]:
    """The change_requested payload another process throws (also valid against the start form)."""
    data = {
        "origin_key": PROBLEM_KEY, "origin_process": "problem",
        "summary": "修复应用连接泄漏", "description": "发布修复补丁，调整连接池参数",
        "impact": "medium", "urgency": "medium", "risk": "medium", "change_type": "normal",
        "affected_cis": ["CI-APP-01"], "ci_changes": [{"ci": "CI-APP-01", "field": "status", "value": "maintenance"}],
    }
    data.update(over)
    return data


def by_hand(**over: Any) -> dict[str, Any]:
    """Raised by hand through the start form: no origin fields at all (the HTML form drops empty fields)."""
    data = {k: v for k, v in rfc().items() if k not in ("origin_key", "origin_process", "ci_changes")}
    data.update(over)
    return data


def assess(start: dict[str, Any], result: str = "accept", **over: Any) -> dict[str, Any]:
    if result != "accept":
        return {"assessment_result": result, "filter_reason": "RFC信息不完整，缺少回退方案"}
    data = {"assessment_result": "accept", "impact": start["impact"], "urgency": start["urgency"],
            "risk": start["risk"], "change_type": start["change_type"],
            "assessment": "影响一个应用系统，业务收益明显", "change_plan": "周末维护窗口实施"}
    data.update(over)
    return data


def lead(approved: bool) -> dict[str, Any]:
    return {"approval": "approved" if approved else "rejected",
            "approval_opinion": "同意实施" if approved else "变更计划缺少回退步骤"}


def vote(choice: str) -> dict[str, Any]:
    return {"vote": choice, "comment": "风险不可接受"} if choice == "reject" else {"vote": choice}


def votes(*choices: str) -> list[tuple]:
    return [("cab_vote", vote(c)) for c in choices]


def revise(resubmit: bool) -> dict[str, Any]:
    if resubmit:
        return {"resubmit": True, "assessment": "补充了风险分析", "change_plan": "增加回退步骤"}
    return {"resubmit": False, "abandon_reason": "CAB认为风险过高，放弃"}


def schedule() -> dict[str, Any]:
    return {"implementation_plan": "按变更计划分两步实施", "implementation_tasks": "部署补丁；调整参数",
            "implementer": "impl1", "scheduled_start": "2026-11-28T22:00:00+08:00"}


def implement(result: str | None = "success", release: bool = False) -> dict[str, Any]:
    if release:
        return {"implementation_notes": "补丁已打包", "release_needed": True, "release_contents": "应用补丁包 v2.3.1",
                "release_date": "2026-11-29T22:00:00+08:00"}
    return {"implementation_notes": "已部署", "release_needed": False, "implementation_result": result}


def complete(result: str) -> dict[str, Any]:
    notes = "与发布管理共同完成" if result == "success" else "发布后验证失败"
    return {"implementation_result": result, "implementation_notes": notes}


def review(result: str = "achieved") -> dict[str, Any]:
    return {"review_result": result, "review_record": "已更新变更记录"}


def close(handed_over: bool = True) -> dict[str, Any]:
    if handed_over:
        return {"handover_complete": True, "handover_documents": "实施记录、运维手册"}
    return {"handover_complete": False}


def after_approval(*implementation: tuple) -> list[tuple]:
    return [("schedule_and_assign", schedule()), *implementation, ("review_change", review()),
            ("close_change", close())]


RELEASE_CLOSED = ("message", "release_closed", {"reply_to": BUSINESS_KEY, "release_key": "REL-TEST-0001",
                                                "outcome": "released"})
MINOR = by_hand(impact="low", urgency="low", risk="low")
STANDARD = rfc(origin_key=INCIDENT_KEY, origin_process="incident")
MAJOR = rfc(impact="high", urgency="low", risk="high")
EMERGENCY = rfc(origin_key=INCIDENT_KEY, origin_process="incident", impact="high", urgency="high",
                change_type="emergency")
EMERGENCY_BY_HAND = by_hand(change_type="emergency")

# name -> (start, steps, expected end event, expected replies [(message, outcome)], final status)
PATHS: dict[str, tuple[dict, list[tuple], str, list[tuple[str, str]], str]] = {
    "minor_by_hand_handover_pending": (MINOR, [
        ("assess_change", assess(MINOR)), ("lead_approval", lead(True)), ("schedule_and_assign", schedule()),
        ("implement_change", implement()), ("review_change", review()), ("close_change", close(False)),
        ("close_change", close()),
    ], "change_closed", [], "closed"),
    "filtered_from_problem": (rfc(), [("assess_change", assess(rfc(), "incomplete"))],
                              "rfc_filtered", [("change_closed", "rejected")], "filtered"),
    "filtered_by_hand": (by_hand(), [("assess_change", assess(by_hand(), "duplicate"))],
                         "rfc_filtered", [], "filtered"),
    "standard_rejected_by_lead_then_release_fails": (STANDARD, [
        ("assess_change", assess(STANDARD)), ("lead_approval", lead(False)),
        ("assess_change", assess(STANDARD, change_plan="补充回退步骤")), ("lead_approval", lead(True)),
        *after_approval(("implement_change", implement(release=True)), RELEASE_CLOSED,
                        ("complete_implementation", complete("failed"))),
    ], "change_closed", [("release_requested", ""), ("change_closed", "failed")], "closed"),
    "major_no_quorum_rejected_resubmitted_approved": (MAJOR, [
        ("assess_change", assess(MAJOR)),
        *votes("approve", "abstain", "abstain"),  # 1 of 3 voted: no quorum, vote again
        *votes("approve", "reject", "abstain"),  # 2 of 3 voted, 1:1 is no majority: back to the change lead
        ("revise_after_cab", revise(True)),
        *votes("approve", "approve", "abstain"),  # 2 of 3 voted, 2:0: approved
        *after_approval(("implement_change", implement())),
    ], "change_closed", [("change_closed", "implemented")], "closed"),
    "major_abandoned_from_problem": (MAJOR, [
        ("assess_change", assess(MAJOR)), *votes("reject", "reject", "approve"), ("revise_after_cab", revise(False)),
    ], "change_abandoned", [("change_closed", "rejected")], "abandoned"),
    "major_abandoned_by_hand": (by_hand(impact="high", risk="high"), [
        ("assess_change", assess(by_hand(impact="high", risk="high"))), *votes("reject", "reject", "reject"),
        ("revise_after_cab", revise(False)),
    ], "change_abandoned", [], "abandoned"),
    "emergency_returned_by_ecab_then_implemented": (EMERGENCY, [
        ("assess_change", assess(EMERGENCY)), ("ecab_authorise", emergency.ecab_return()),
        ("assess_change", assess(EMERGENCY, assessment="补充影响分析后仍属紧急")),
        *emergency.authorised_to_review(("emergency_build", emergency.build(False)),
                                        ("emergency_implement", emergency.implement("success"))),
    ], "change_closed", [("change_closed", "implemented")], "closed"),
    "emergency_failed_by_hand": (EMERGENCY_BY_HAND, [
        ("assess_change", assess(EMERGENCY_BY_HAND)),
        *emergency.authorised_to_review(("emergency_build", emergency.build(True)),
                                        ("emergency_test", emergency.trial(False)),
                                        ("run_backout", emergency.backout(False))),
    ], "change_closed", [], "closed"),
}


@pytest.fixture(scope="module")
def change_process():
    return load(PROCESS)


def _validator(form_file: str) -> jsonschema.Draft202012Validator:
    return form_validator(*form_file.split("/", 1))


def ran(events: list, kind: str = "element_completed") -> list[str]:
    return [e.spec_id for e in events if e.kind == kind]


# -- paths and coverage --------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(PATHS))
def test_path(change_process, name):
    start, steps, end, replies, status = PATHS[name]
    run, events, thrown = drive(change_process, start, steps, connectors=CONNECTORS)
    assert run.completed
    assert run.ready_user_tasks() == [] and run.waiting_messages() == []
    assert ran(events)[-1] == end
    assert [(n, p.get("outcome", "")) for n, p in thrown] == replies
    for message, payload in thrown:
        if message == "change_closed":
            assert payload["reply_to"] == start["origin_key"] and payload["change_key"] == BUSINESS_KEY
    data = run.data()
    assert data["status"] == status
    emergency.record_coverage(events)


@pytest.mark.parametrize("name", sorted(PATHS))
def test_every_step_validates_against_its_form(change_process, name):
    """The data of every step is what the application would accept (start form, each task's form)."""
    start, steps, *_ = PATHS[name]
    errors = [e.message for e in _validator(change_process.start_form).iter_errors(start)]
    assert not errors, f"start: {errors}"
    assert not emergency.step_errors(change_process, steps)


def test_forms_refuse_incomplete_answers():
    form = _validator(f"{PROCESS}/assess_change.schema.json")
    assert list(form.iter_errors({"assessment_result": "accept"})), "accepting needs the assessment and the plan"
    assert list(form.iter_errors({"assessment_result": "impractical"})), "filtering needs a reason for the requester"
    assert list(_validator(f"{PROCESS}/cab_vote.schema.json").iter_errors({"vote": "reject"})), \
        "a vote against needs a comment"
    assert not list(_validator(f"{PROCESS}/cab_vote.schema.json").iter_errors({"vote": "abstain"}))
    assert list(_validator(f"{PROCESS}/implement_change.schema.json").iter_errors(
        {"implementation_notes": "x", "release_needed": True})), "a release needs its contents and date"
    assert list(_validator(f"{PROCESS}/implement_change.schema.json").iter_errors(
        {"implementation_notes": "x", "release_needed": False})), "without a release the result is given now"
    assert list(_validator(f"{PROCESS}/revise_after_cab.schema.json").iter_errors({"resubmit": False})), \
        "abandoning needs a reason"


def test_lanes_follow_table_4(change_process):
    lanes = {spec_id: meta.lane_id for spec_id, meta in change_process.user_tasks.items()
             if change_process.elements[spec_id]["process"] == PROCESS}
    assert lanes == {
        "assess_change": "change_analyst", "lead_approval": "change_lead", "cab_vote": "cab",
        "revise_after_cab": "change_lead", "schedule_and_assign": "change_lead",
        "implement_change": "change_implementer", "complete_implementation": "change_implementer",
        "review_change": "change_lead", "close_change": "change_lead",
    }
    assert change_process.elements["change_requested"]["lane"] == "requester"
    assert change_process.start_form == f"{PROCESS}/start.schema.json"
    assert change_process.user_tasks["review_change"].group_variable == "review_group"
    assert change_process.user_tasks["implement_change"].properties["assigneeVariable"] == "implementer"
    assert change_process.elements["emergency_change_call"]["type"] == "callActivity"


# -- the CAB vote -----------------------------------------------------------------------------------

def _to_cab(change_process) -> ProcessRun:
    run, _, _ = drive(change_process, MAJOR, [("assess_change", assess(MAJOR))], connectors=CONNECTORS)
    return run


def _cast(change_process, run: ProcessRun, ballots: dict[str, str]) -> ProcessRun:
    """Each member completes the vote task assigned to them, in the given order, round-tripping the state."""
    for member, choice in ballots.items():
        run = ProcessRun.load(change_process, run.dump(), CONNECTORS)
        (task,) = [t for t in run.ready_user_tasks() if t.spec_id == "cab_vote" and t.data["cab_member"] == member]
        run.complete(task.guid, vote(choice))
    return run


def test_cab_vote_is_one_task_per_member_at_once(change_process):
    run = _to_cab(change_process)
    ready = run.ready_user_tasks()
    assert [t.spec_id for t in ready] == ["cab_vote"] * 3
    assert sorted(t.data["cab_member"] for t in ready) == CAB_MEMBERS
    assert all(t.data["cab_members"] == CAB_MEMBERS and t.data["cab_round"] == 1 for t in ready)
    meta = change_process.user_tasks["cab_vote"]
    assert meta.lane_id == "cab" and meta.properties["assigneeVariable"] == "cab_member"
    # Votes arrive in any order; each is recorded with its member.
    run = _cast(change_process, run, {"cab3": "approve", "cab": "abstain"})
    assert [t.data["cab_member"] for t in run.ready_user_tasks()] == ["cab2"]
    run = _cast(change_process, run, {"cab2": "approve"})
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "schedule_and_assign"
    assert sorted((v["member"], v["vote"]) for v in task.data["cab_votes"]) == [
        ("cab", "abstain"), ("cab2", "approve"), ("cab3", "approve")]
    assert "cab_member" not in task.data and "vote" not in task.data and "cab_ballot" not in task.data
    assert (task.data["approve_count"], task.data["reject_count"], task.data["abstain_count"],
            task.data["member_count"]) == (2, 0, 1, 3)
    assert task.data["cab_result"] == "approved" and task.data["status"] == "approved"
    assert task.data["review_group"] == "cab"


@pytest.mark.parametrize("ballots,result,next_tasks", [
    ({"cab": "approve", "cab2": "approve", "cab3": "abstain"}, "approved", ["schedule_and_assign"]),
    ({"cab": "approve", "cab2": "approve", "cab3": "reject"}, "approved", ["schedule_and_assign"]),
    ({"cab": "approve", "cab2": "reject", "cab3": "abstain"}, "rejected", ["revise_after_cab"]),
    ({"cab": "reject", "cab2": "reject", "cab3": "approve"}, "rejected", ["revise_after_cab"]),
    ({"cab": "approve", "cab2": "abstain", "cab3": "abstain"}, "no_quorum", ["cab_vote"] * 3),
    ({"cab": "abstain", "cab2": "abstain", "cab3": "abstain"}, "no_quorum", ["cab_vote"] * 3),
])
def test_cab_quorum_and_majority(change_process, ballots, result, next_tasks):
    run = _cast(change_process, _to_cab(change_process), ballots)
    ready = run.ready_user_tasks()
    assert [t.spec_id for t in ready] == next_tasks
    assert ready[0].data["cab_result"] == result
    if result == "no_quorum":
        # A new round: same members, the previous round's votes cleared.
        assert ready[0].data["cab_round"] == 2 and ready[0].data["cab_votes"] == []
        assert sorted(t.data["cab_member"] for t in ready) == CAB_MEMBERS


def test_cab_rejection_returns_to_the_change_lead_who_resubmits(change_process):
    start, steps, *_ = PATHS["major_no_quorum_rejected_resubmitted_approved"]
    run, _, _ = drive(change_process, start, steps[:7], connectors=CONNECTORS)
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "revise_after_cab" and task.data["cab_round"] == 2
    assert task.data["cab_result"] == "rejected" and task.data["status"] == "cab_review"
    run, _, _ = drive(change_process, start, steps[:8], connectors=CONNECTORS)
    ready = run.ready_user_tasks()
    assert [t.spec_id for t in ready] == ["cab_vote"] * 3
    assert ready[0].data["cab_round"] == 3 and ready[0].data["change_plan"] == "增加回退步骤"


# -- behaviour along the paths ------------------------------------------------------------------------

def test_category_routes_the_approval(change_process):
    cases = [(MINOR, "minor", "lead_approval"), (STANDARD, "standard", "lead_approval"),
             (MAJOR, "major", "cab_vote"), (EMERGENCY, "emergency", "ecab_authorise")]
    for start, category, first in cases:
        run, events, _ = drive(change_process, start, [("assess_change", assess(start))], connectors=CONNECTORS)
        (decision,) = [e for e in events if e.kind == "decision_evaluated"]
        assert decision.spec_id == "categorise_change" and decision.detail["decision_id"] == "change_category"
        assert decision.detail["outputs"] == {"change_category": category}
        assert run.ready_user_tasks()[0].spec_id == first, category


def test_lead_rejection_goes_back_to_the_analyst(change_process):
    start, steps, *_ = PATHS["standard_rejected_by_lead_then_release_fails"]
    run, _, _ = drive(change_process, start, steps[:2])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "assess_change"
    assert task.data["approval"] == "rejected" and task.data["approval_opinion"] == "变更计划缺少回退步骤"


def test_release_is_requested_and_awaited(change_process):
    start, steps, *_ = PATHS["standard_rejected_by_lead_then_release_fails"]
    run, _, thrown = drive(change_process, start, steps[:6])
    assert run.ready_user_tasks() == [] and run.waiting_messages() == ["release_closed"]
    assert thrown == [("release_requested", {
        "origin_key": BUSINESS_KEY, "origin_process": PROCESS, "summary": start["summary"],
        "contents": "应用补丁包 v2.3.1", "scheduled_date": "2026-11-29T22:00:00+08:00"})]
    release_form = ROOT / "forms" / "release" / "start.schema.json"
    if release_form.is_file():  # what we throw is what the release process's start form accepts
        assert not list(_validator("release/start.schema.json").iter_errors(thrown[0][1]))
    run, _, _ = drive(change_process, start, steps[:7])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "complete_implementation"
    assert task.data["release_result"]["outcome"] == "released"


def test_ci_changes_are_applied_only_after_a_successful_implementation(change_process):
    run, _, thrown = drive(change_process, *PATHS["major_no_quorum_rejected_resubmitted_approved"][:2],
                           connectors=CONNECTORS)
    assert run.data()["apply_ci_changes"] is True and run.data()["ci_changes"] == MAJOR["ci_changes"]
    assert thrown[-1] == ("change_closed", {"reply_to": PROBLEM_KEY, "change_key": BUSINESS_KEY,
                                            "outcome": "implemented"})
    run, _, _ = drive(change_process, *PATHS["standard_rejected_by_lead_then_release_fails"][:2])
    assert run.data()["apply_ci_changes"] is False and run.data()["change_outcome"] == "failed"
    run, _, _ = drive(change_process, *PATHS["emergency_returned_by_ecab_then_implemented"][:2])
    assert run.data()["apply_ci_changes"] is True
    run, _, _ = drive(change_process, *PATHS["emergency_failed_by_hand"][:2])
    assert run.data()["apply_ci_changes"] is False and run.data()["change_outcome"] == "failed"


def test_by_hand_has_empty_origin_and_replies_to_nobody(change_process):
    start, steps, *_ = PATHS["minor_by_hand_handover_pending"]
    assert "origin_key" not in start and "ci_changes" not in start
    run, events, thrown = drive(change_process, start, steps)
    assert thrown == []
    data = run.data()
    assert data["origin_key"] == "" and data["origin_process"] == "" and data["ci_changes"] == []
    assert data["review_group"] == "change_lead" and data["change_outcome"] == "implemented"
    assert "reply_closed" not in ran(events)
    # The hand-over was not complete the first time: the change stayed open and came back to the lead.
    assert ran(events, "task_ready").count("close_change") == 2


def test_empty_origin_key_from_the_start_form_is_not_a_reply(change_process):
    start = by_hand(origin_key="", origin_process="")
    _, _, thrown = drive(change_process, start, [("assess_change", assess(start, "impractical"))])
    assert thrown == []


def test_emergency_change_is_called_with_the_change_data(change_process):
    start, steps, *_ = PATHS["emergency_returned_by_ecab_then_implemented"]
    run, _, _ = drive(change_process, start, steps[:1])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "ecab_authorise"
    assert task.data["summary"] == start["summary"] and task.data["change_category"] == "emergency"
    # ECAB returns it: back in change.bpmn at the assessment, with the emergency result.
    run, events, _ = drive(change_process, start, steps[:2])
    (task,) = run.ready_user_tasks()
    assert task.spec_id == "assess_change" and task.data["emergency_result"] == "returned"
    assert "emergency_returned" in ran(events) and "emergency_result_gateway" in ran(events)
    run, events, _ = drive(change_process, start, steps)
    assert run.data()["emergency_result"] == "implemented" and run.data()["change_outcome"] == "implemented"
    assert ran(events)[-5:] == ["record_emergency_outcome", "closed_merge", "closed_reply_gateway", "reply_closed",
                                "change_closed"]


def test_change_payloads_fit_the_start_form(change_process):
    """What incident and problem throw (their payload shape) is what the start form accepts."""
    validator = _validator(change_process.start_form)
    assert not list(validator.iter_errors(rfc(ci_changes=[])))
    # Any class attribute may be named (configuration management validates it per class when applied) ...
    assert not list(validator.iter_errors(rfc(ci_changes=[{"ci": "CI-1", "field": "os", "value": "x"}])))
    # ... but a field must be an attribute name.
    assert list(validator.iter_errors(rfc(ci_changes=[{"ci": "CI-1", "field": "Owner!", "value": "x"}])))
    assert list(validator.iter_errors(rfc(risk="extreme")))


# -- the decision tables ----------------------------------------------------------------------------

LEVELS = ("high", "medium", "low")


def _expected_category(change_type: str, impact: str, urgency: str, risk: str) -> str:
    if change_type == "emergency" or (impact == "high" and urgency == "high"):
        return "emergency"
    if risk == "high" or impact == "high":
        return "major"
    if change_type == "standard" or (impact == "low" and risk == "low"):
        return "minor"
    return "standard"


def test_change_category_table_every_combination():
    engine = load_decision((ROOT / "dmn" / "change_category.dmn").read_bytes(), "change_category.dmn")
    assert engine.decision_table.hit_policy.upper() == "FIRST"
    used = set()
    for change_type, impact, urgency, risk in itertools.product(("standard", "normal", "emergency"),
                                                                LEVELS, LEVELS, LEVELS):
        result = evaluate_decision(engine, {"change_type": change_type, "impact": impact, "urgency": urgency,
                                            "risk": risk})
        assert result.outputs == {"change_category": _expected_category(change_type, impact, urgency, risk)}, \
            (change_type, impact, urgency, risk)
        used.add(result.matched[0].rule_id)
    rules = engine.decision_table.rules
    assert used == {r.id for r in rules}, "every rule decides some combination"
    assert all(r.description for r in rules)


def test_cab_decision_table_quorum_and_majority():
    engine = load_decision((ROOT / "dmn" / "cab_decision.dmn").read_bytes(), "cab_decision.dmn")
    assert engine.decision_table.hit_policy.upper() == "UNIQUE"
    for members in range(1, 8):
        for approve in range(members + 1):
            for reject in range(members - approve + 1):
                result = evaluate_decision(engine, {"approve_count": approve, "reject_count": reject,
                                                    "member_count": members})
                if 3 * (approve + reject) < 2 * members:
                    expected = "no_quorum"
                else:
                    expected = "approved" if approve > reject else "rejected"
                assert result.outputs == {"cab_result": expected}, (approve, reject, members)
    assert all(r.description for r in engine.decision_table.rules)


def test_zz_every_flow_taken():
    """Runs last in this module: the union of the paths covers every sequence flow."""
    expected = all_flows(PROCESS)
    taken = Coverage.taken.get(PROCESS, set())
    missing = expected - taken
    print(f"\nchange.bpmn flow coverage: {len(taken & expected)}/{len(expected)}"
          f" ({100 * len(taken & expected) // max(len(expected), 1)}%)")
    assert not missing, f"flows never taken: {sorted(missing)}"
