"""The benchmark's yardstick diagram (benchmarks/reference/) deploys, runs and decides as the notes describe it.

benchmarks/engine.py sets our figures against the field notes' on this diagram; if it stopped compiling or its
one decision table stopped deciding, that comparison would silently measure something else."""
from __future__ import annotations

from itertools import product
from pathlib import Path

import pytest

from tests.bpmn.conftest import load
from tests.bpmn.driver import drive, flows_taken
from tests.support import REFERENCE_ID, REFERENCE_STEPS

REFERENCE_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "reference"
# Impact x urgency, as the incident priority matrix: high/high is P1, low/low and low/medium are P4.
EXPECTED = {
    ("high", "high"): "P1", ("high", "medium"): "P2", ("high", "low"): "P3",
    ("medium", "high"): "P2", ("medium", "medium"): "P3", ("medium", "low"): "P4",
    ("low", "high"): "P3", ("low", "medium"): "P4", ("low", "low"): "P4",
}


@pytest.fixture(scope="module")
def reference():
    return load(REFERENCE_ID, REFERENCE_DIR)


def test_three_user_tasks_and_one_decision_table(reference) -> None:
    assert sorted(reference.user_tasks) == sorted(step for step, _ in REFERENCE_STEPS)
    assert set(reference.forms) == {f"{REFERENCE_ID}/{step}.schema.json" for step, _ in REFERENCE_STEPS}


def test_the_benchmark_lifecycle_takes_every_flow_and_finishes(reference) -> None:
    run, events, _ = drive(reference, {}, REFERENCE_STEPS)
    assert run.completed
    assert flows_taken(events) == set(reference.flows.values())
    decisions = [e for e in events if e.kind == "decision_evaluated"]
    assert len(decisions) == 1


@pytest.mark.parametrize(("impact", "urgency"), list(product(["high", "medium", "low"], repeat=2)))
def test_each_rule_of_the_priority_table(reference, impact: str, urgency: str) -> None:
    steps = [("record_incident", {"description": "x", "impact": impact, "urgency": urgency}), *REFERENCE_STEPS[1:]]
    run, _, _ = drive(reference, {}, steps)
    assert run.data()["priority"] == EXPECTED[(impact, urgency)]
