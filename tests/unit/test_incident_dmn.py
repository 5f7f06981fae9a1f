"""The incident decision tables, rule by rule, through the same evaluator business rule tasks use."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.definitions import evaluate_decision, load_decision
from app.engine.dmn import DecisionError

DMN = Path(__file__).resolve().parents[2] / "dmn"
PRIORITY = load_decision((DMN / "incident_priority.dmn").read_bytes(), "incident_priority.dmn")
CLASSIFICATION = load_decision((DMN / "incident_classification.dmn").read_bytes(), "incident_classification.dmn")

# impact x urgency -> priority: the matrix the desk is trained on (Table 2 step 3).
MATRIX = {
    ("high", "high"): "P1", ("high", "medium"): "P2", ("medium", "high"): "P2",
    ("high", "low"): "P3", ("medium", "medium"): "P3", ("low", "high"): "P3",
    ("medium", "low"): "P4", ("low", "medium"): "P4", ("low", "low"): "P4",
}
ROUTES = {
    "hardware": ("support_line_1", "infrastructure"),
    "network": ("support_line_2", "infrastructure"),
    "system_software": ("support_line_2", "infrastructure"),
    "database": ("support_line_2", "application"),
    "application": ("support_line_2", "application"),
    "security": ("support_line_2", "security"),
    "terminal": ("support_line_1", "end_user"),
    "other": ("support_line_1", "end_user"),
    "something_new": ("support_line_1", "end_user"),
}


@pytest.mark.parametrize(("impact", "urgency"), sorted(MATRIX))
def test_priority_rule(impact, urgency):
    result = evaluate_decision(PRIORITY, {"impact": impact, "urgency": urgency})
    assert result.outputs == {"priority": MATRIX[(impact, urgency)]}
    assert [m.rule_id for m in result.matched] == [f"priority_rule_{impact}_{urgency}"]


def test_every_priority_rule_is_reachable_and_unique():
    used = {evaluate_decision(PRIORITY, {"impact": i, "urgency": u}).matched[0].rule_id for i, u in MATRIX}
    assert used == {r.id for r in PRIORITY.decision_table.rules}
    assert PRIORITY.decision_table.hit_policy == "UNIQUE"


def test_unknown_impact_matches_nothing():
    result = evaluate_decision(PRIORITY, {"impact": "catastrophic", "urgency": "high"})
    assert result.matched == [] and result.outputs == {"priority": None}


def test_unique_is_enforced_when_rules_overlap():
    broken = (DMN / "incident_priority.dmn").read_bytes().replace(
        b'<text>"medium"</text>', b'<text>"high","medium"</text>', 1)
    engine = load_decision(broken, "broken.dmn")
    with pytest.raises(DecisionError) as info:
        evaluate_decision(engine, {"impact": "high", "urgency": "high"})
    message = str(info.value)
    assert "priority_rule_high_high" in message and "priority_rule_high_medium" in message


@pytest.mark.parametrize("category", sorted(ROUTES))
def test_classification_rule(category):
    result = evaluate_decision(CLASSIFICATION, {"category": category})
    group, service_class = ROUTES[category]
    assert result.outputs == {"support_group": group, "service_class": service_class}
    expected_rule = f"classification_rule_{category}" if category in {
        "hardware", "network", "system_software", "database", "application", "security", "terminal",
    } else "classification_rule_any"
    assert [m.rule_id for m in result.matched] == [expected_rule]  # FIRST: only the first match counts


def test_classification_is_first_hit():
    assert CLASSIFICATION.decision_table.hit_policy == "FIRST"
