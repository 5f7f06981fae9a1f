"""docs/traceability.md is current and maps every step of Tables 2-11 to a BPMN element in the role's lane."""
from __future__ import annotations

from pathlib import Path

from app.services.traceability import build, render

ROOT = Path(__file__).resolve().parents[2]


def test_every_spec_step_has_an_element():
    rows = build(ROOT / "bpmn", ROOT / "docs" / "spec_steps.json")
    missing = [f"表{r.table}-{r.step} {r.name} ({r.process_id})" for r in rows if r.element_id is None]
    assert not missing, f"spec steps without a BPMN element: {missing}"
    assert all(r.lane_id for r in rows), [r.element_id for r in rows if not r.lane_id]


def test_traceability_document_is_current():
    text = render(build(ROOT / "bpmn", ROOT / "docs" / "spec_steps.json"))
    current = (ROOT / "docs" / "traceability.md").read_text(encoding="utf-8")
    assert current == text, "docs/traceability.md is stale: run `flask traceability`"


def test_cli_check(app):
    result = app.test_cli_runner().invoke(args=["traceability", "--check"])
    assert result.exit_code == 0, result.output
