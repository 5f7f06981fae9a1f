"""DMN TCK compliance-level-2 cases run through SpiffWorkflow's parser and our decision-table layer.

A case is in scope when every decision of its model is a decision table over input data whose
inputs are plain values; cases needing other FEEL features (literal expressions, business
knowledge models, invocations, arithmetic) are listed as out of scope with a reason, not skipped.
"""
from __future__ import annotations

import copy
import math
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from app.engine.dmn import MULTI_HIT, DecisionResult, evaluate_table, table_metadata

REPO = Path(__file__).resolve().parents[2]
TCK_DIR = Path(os.environ.get(
    "DMN_TCK_DIR", REPO.parent / "shared" / "conformance" / "dmn-tck" / "compliance-level-2"))
TC_NS = "http://www.omg.org/spec/DMN/20160719/testcase"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
NUMERIC_TYPES = {"decimal", "double", "float", "integer", "int", "long", "short"}
# Children of <decision> that are not its value expression.
DECISION_PARTS = {"description", "extensionElements", "variable", "informationRequirement",
                  "knowledgeRequirement", "authorityRequirement", "question", "allowedAnswers"}


def plain_eval(expression: str, context: dict) -> Any:
    """Test stand-in for the engine's sandboxed evaluator."""
    return eval(compile(expression, "<dmn>", "eval"), {"__builtins__": {}}, dict(context))


def local(el: Any) -> str:
    """Return an element's tag without namespace."""
    return etree.QName(el).localname if isinstance(el.tag, str) else ""


@dataclass
class Case:
    """One TCK case directory: its model, its test files and, if out of scope, why."""

    name: str
    model: Path
    tests: list[Path]
    reasons: list[str] = field(default_factory=list)


def out_of_scope_reasons(model: Path, tests: list[Path]) -> list[str]:
    """Say why a case needs more than decision tables with simple unary tests over input data."""
    root = etree.parse(str(model)).getroot()
    reasons: list[str] = []
    if any(local(el) == "businessKnowledgeModel" for el in root.iter()):
        reasons.append("business knowledge model / invocation")
    input_names = {el.get("name") for el in root if local(el) == "inputData"}
    other_kinds: dict[str, list[str]] = {}
    for decision in (el for el in root if local(el) == "decision"):
        kinds = [local(el) for el in decision if local(el) and local(el) not in DECISION_PARTS]
        if kinds != ["decisionTable"]:
            other_kinds.setdefault("/".join(kinds) or "empty", []).append(decision.get("name"))
            continue
        if any(local(el) == "requiredDecision" for el in decision.iter()):
            reasons.append(f"decision {decision.get('name')!r} depends on another decision")
        for text in decision.iterfind(".//{*}inputExpression/{*}text"):
            expr = (text.text or "").strip()
            if expr not in input_names or not expr.isidentifier():
                reasons.append(f"input expression {expr!r} is not a plain input-data name")
    for kind, names in other_kinds.items():
        shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
        reasons.append(f"{len(names)} {kind} decision(s) ({shown}): FEEL beyond decision tables")
    for test in tests:
        for node in etree.parse(str(test)).getroot().iterfind(f".//{{{TC_NS}}}inputNode"):
            if not (node.get("name") or "").isidentifier():
                reasons.append(f"input name {node.get('name')!r} is not an identifier (FEEL names with spaces)")
            if node.find(f"{{{TC_NS}}}value") is None:
                reasons.append(f"input {node.get('name')!r} is structured (components or lists)")
    return sorted(set(reasons))


def discover() -> list[Case]:
    """Collect every case directory of the TCK level-2 folder."""
    cases = []
    for directory in sorted(p for p in TCK_DIR.iterdir() if p.is_dir()) if TCK_DIR.is_dir() else []:
        models = sorted(directory.glob("*.dmn"))
        tests = sorted(directory.glob("*-test-*.xml"))
        if len(models) != 1 or not tests:
            cases.append(Case(directory.name, directory, tests, ["no single model with test files"]))
            continue
        cases.append(Case(directory.name, models[0], tests, out_of_scope_reasons(models[0], tests)))
    return cases


CASES = discover()
IN_SCOPE = [c for c in CASES if not c.reasons]
OUT_OF_SCOPE = [c for c in CASES if c.reasons]


def load_decision(model: Path, decision_name: str) -> tuple[Any, dict]:
    """Parse one decision's table with SpiffWorkflow's DMNParser, on a copy holding only that decision."""
    root = copy.deepcopy(etree.parse(str(model)).getroot())
    decisions = [el for el in root if local(el) == "decision"]
    target = next(d for d in decisions if d.get("name") == decision_name)
    for other in decisions:
        if other is not target:
            root.remove(other)  # SpiffWorkflow's parser refuses files with several decisions
    table_el = next(el for el in target if local(el) == "decisionTable")
    # SpiffWorkflow requires ids the TCK models leave out.
    if not table_el.get("id"):
        table_el.set("id", f"{target.get('id')}_table")
    for n, el in enumerate(table_el.iter()):
        if local(el) in ("input", "output", "rule", "inputEntry", "outputEntry") and not el.get("id"):
            el.set("id", f"{table_el.get('id')}_{local(el)}_{n}")
    parser = SpiffBpmnParser()
    parser.add_dmn_str(etree.tostring(root))
    dmn_parser = parser.dmn_parsers[target.get("id")]
    dmn_parser.parse()
    table = dmn_parser.decision.decisionTables[0]
    return table, table_metadata(root)[table.id]


def parse_value(el: Any) -> Any:
    """Turn a TCK <value> into a Python value."""
    if el.get(f"{{{XSI_NS}}}nil") == "true":
        return None
    kind = (el.get(f"{{{XSI_NS}}}type") or "xsd:string").split(":")[-1]
    text = el.text or ""
    if kind in NUMERIC_TYPES:
        number = Decimal(text.strip())
        return int(number) if number == number.to_integral_value() else float(number)
    if kind == "boolean":
        return text.strip() == "true"
    return text


def parse_expected(el: Any) -> Any:
    """Turn an <expected>, <component> or <item> element into a Python value."""
    value = el.find(f"{{{TC_NS}}}value")
    if value is not None:
        return parse_value(value)
    listing = el.find(f"{{{TC_NS}}}list")
    if listing is not None:
        return [parse_expected(item) for item in listing.findall(f"{{{TC_NS}}}item")]
    components = el.findall(f"{{{TC_NS}}}component")
    if components:
        return {c.get("name"): parse_expected(c) for c in components}
    return None


def tck_shape(result: DecisionResult, table: Any) -> Any:
    """Render our result the way the TCK writes a decision's value."""
    keys = list(result.outputs)
    if result.hit_policy in MULTI_HIT and not result.aggregation:
        rows = [dict(zip(keys, values)) for values in zip(*(result.outputs[k] for k in keys))]
        return [row[keys[0]] if len(keys) == 1 else row for row in rows]
    if result.hit_policy not in MULTI_HIT and not result.matched and not result.used_defaults:
        return None
    return result.outputs[keys[0]] if len(keys) == 1 else dict(result.outputs)


def same(actual: Any, expected: Any) -> bool:
    """Compare with a tolerance for floating point numbers."""
    if isinstance(expected, float) or (isinstance(actual, float) and isinstance(expected, int)):
        return isinstance(actual, (int, float)) and not isinstance(actual, bool) \
            and math.isclose(actual, expected, rel_tol=1e-9)
    if isinstance(expected, dict):
        return isinstance(actual, dict) and actual.keys() == expected.keys() \
            and all(same(actual[k], expected[k]) for k in expected)
    if isinstance(expected, list):
        return isinstance(actual, list) and len(actual) == len(expected) \
            and all(same(a, e) for a, e in zip(actual, expected))
    return type(actual) is type(expected) and actual == expected


def run_case(case: Case) -> list[str]:
    """Run every test of a case; return the failures."""
    failures = []
    for test_file in case.tests:
        for test in etree.parse(str(test_file)).getroot().iterfind(f"{{{TC_NS}}}testCase"):
            data = {node.get("name"): parse_value(node.find(f"{{{TC_NS}}}value"))
                    for node in test.iterfind(f"{{{TC_NS}}}inputNode")}
            for node in test.iterfind(f"{{{TC_NS}}}resultNode"):
                expected = parse_expected(node.find(f"{{{TC_NS}}}expected"))
                where = f"{test_file.name} test {test.get('id')} result {node.get('name')!r}"
                try:
                    table, meta = load_decision(case.model, node.get("name"))
                    result = evaluate_table(
                        table, data, plain_eval,
                        aggregation=meta["aggregation"],
                        output_values=meta["output_values"],
                        default_outputs=meta["default_outputs"],
                        decision_id=meta["decision_id"],
                    )
                    actual = tck_shape(result, table)
                except Exception as exc:  # noqa: BLE001 - a failing case is reported, not raised
                    failures.append(f"{where}: {type(exc).__name__}: {exc}")
                    continue
                if not same(actual, expected):
                    failures.append(f"{where}: expected {expected!r}, got {actual!r}")
    return failures


@pytest.mark.parametrize("case", IN_SCOPE, ids=[c.name for c in IN_SCOPE])
def test_tck_case(case: Case) -> None:
    """Each in-scope TCK case gives the expected result for every test in it."""
    failures = run_case(case)
    assert not failures, "\n".join(failures)


def test_tck_summary(capsys: pytest.CaptureFixture[str]) -> None:
    """Report how many level-2 cases are in scope and pass, and why the rest are out of scope."""
    assert TCK_DIR.is_dir(), f"DMN TCK cases not found at {TCK_DIR} (set DMN_TCK_DIR)"
    assert IN_SCOPE, "no in-scope DMN TCK case found"
    passing = [c for c in IN_SCOPE if not run_case(c)]
    headline = (f"DMN TCK level 2: {len(passing)} of {len(IN_SCOPE)} cases in scope pass; "
                f"{len(OUT_OF_SCOPE)} out of scope ({', '.join(c.name for c in OUT_OF_SCOPE)})")
    lines = [headline]
    lines += [f"  out of scope: {c.name}: {'; '.join(c.reasons)}" for c in OUT_OF_SCOPE]
    with capsys.disabled():
        print("\n" + "\n".join(lines))
    assert len(passing) == len(IN_SCOPE), [c.name for c in IN_SCOPE if c not in passing]
