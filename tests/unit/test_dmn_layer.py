"""Unit tests of the decision-table layer: unary tests, hit policies, metadata and static checks."""
from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

import pytest
from lxml import etree
from SpiffWorkflow.dmn.specs.model import (
    DecisionTable,
    Input,
    InputEntry,
    Output,
    OutputEntry,
    Rule,
)
from SpiffWorkflow.spiff.parser.process import SpiffBpmnParser

from app.engine.dmn import (
    INPUT_VAR,
    DecisionError,
    DecisionResult,
    MatchedRule,
    check_table,
    evaluate_table,
    table_metadata,
    unary_test_to_python,
)

DMN_NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def plain_eval(expression: str, context: dict) -> Any:
    """Test stand-in for the engine's sandboxed evaluator."""
    return eval(compile(expression, "<dmn>", "eval"), {"__builtins__": {}}, dict(context))


class RecordingEval:
    """Evaluator that records every expression it is asked to evaluate."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, expression: str, context: dict) -> Any:
        self.calls.append(expression)
        return plain_eval(expression, context)


def dmn_xml(
    rules: list[tuple],
    *,
    hit_policy: str = "UNIQUE",
    inputs: list[tuple[str, str, str]] | None = None,
    outputs: list[tuple[str, str]] | None = None,
    aggregation: str | None = None,
    output_values: dict[str, str] | None = None,
    defaults: dict[str, str] | None = None,
    decision_id: str = "decide",
) -> bytes:
    """Build a one-decision DMN document; rules are (input entries, output entries[, description])."""
    inputs = inputs if inputs is not None else [("Amount", "amount", "number")]
    outputs = outputs if outputs is not None else [("result", "string")]
    output_values = output_values or {}
    defaults = defaults or {}
    agg = f' aggregation="{aggregation}"' if aggregation else ""
    parts = [f'<definitions xmlns="{DMN_NS}" id="defs" name="defs" namespace="http://example.com/dmn">',
             f'<decision id="{decision_id}" name="Decide">',
             f'<decisionTable id="{decision_id}_table" hitPolicy="{hit_policy}"{agg}>']
    for n, (label, expression, type_ref) in enumerate(inputs):
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        parts.append(f'<input id="in{n}" label="{label}"><inputExpression id="ie{n}"{type_attr}>'
                     f"<text>{escape(expression)}</text></inputExpression></input>")
    for n, (name, type_ref) in enumerate(outputs):
        body = ""
        if name in output_values:
            body += f"<outputValues><text>{escape(output_values[name])}</text></outputValues>"
        if name in defaults:
            body += f"<defaultOutputEntry><text>{escape(defaults[name])}</text></defaultOutputEntry>"
        name_attr = f' name="{name}"' if name else ""
        type_attr = f' typeRef="{type_ref}"' if type_ref else ""
        parts.append(f'<output id="out{n}"{name_attr}{type_attr}>{body}</output>')
    for r, rule in enumerate(rules, start=1):
        ins, outs = rule[0], rule[1]
        description = f"<description>{escape(rule[2])}</description>" if len(rule) > 2 else ""
        parts.append(f'<rule id="rule{r}">{description}')
        for c, text in enumerate(ins):
            inner = "<text/>" if text == "" else f"<text>{escape(text)}</text>"
            parts.append(f'<inputEntry id="r{r}i{c}">{inner}</inputEntry>')
        for c, text in enumerate(outs):
            parts.append(f'<outputEntry id="r{r}o{c}"><text>{escape(text)}</text></outputEntry>')
        parts.append("</rule>")
    parts.append("</decisionTable></decision></definitions>")
    return "".join(parts).encode()


def parse(xml: bytes, decision_id: str = "decide") -> tuple[DecisionTable, dict]:
    """Parse DMN with SpiffWorkflow's parser and read our metadata for the decision."""
    parser = SpiffBpmnParser()
    parser.add_dmn_str(xml)
    dmn_parser = parser.dmn_parsers[decision_id]
    dmn_parser.parse()
    return dmn_parser.decision.decisionTables[0], table_metadata(xml)[decision_id]


def run(xml: bytes, data: dict, evaluate: Any = plain_eval, **kwargs: Any) -> DecisionResult:
    """Parse and evaluate with the metadata the engine would pass."""
    table, meta = parse(xml)
    kwargs.setdefault("aggregation", meta["aggregation"])
    kwargs.setdefault("output_values", meta["output_values"])
    kwargs.setdefault("decision_id", meta["decision_id"])
    return evaluate_table(table, data, evaluate, **kwargs)


def matches(entry: str | None, value: Any, **context: Any) -> bool:
    """Evaluate one translated input entry against a value, as evaluate_table does."""
    expr = unary_test_to_python(entry, INPUT_VAR)
    if expr is None:
        return True
    return bool(plain_eval(expr, {**context, INPUT_VAR: value}))


# --------------------------------------------------------------------------- unary tests

@pytest.mark.parametrize("entry", [None, "", "   ", "-", " - "])
def test_empty_and_dash_match_anything(entry: str | None) -> None:
    assert unary_test_to_python(entry, "v") is None
    assert matches(entry, None) and matches(entry, "x") and matches(entry, 0)


@pytest.mark.parametrize(("entry", "value", "expected"), [
    ('"text"', "text", True),
    ('"text"', "Text", False),
    ('"a, b"', "a, b", True),
    ('"what?"', "what?", True),
    ("5", 5, True),
    ("5", 5.0, True),
    ("5", 6, False),
    ("5", "5", False),  # no coercion of numeric-looking strings
    ("-1.5", -1.5, True),
    ("-1.5", 1.5, False),
    (".5", 0.5, True),
    ("true", True, True),
    ("true", 1, False),
    ("false", False, True),
    ("false", 0, False),
    ("false", None, False),
    ("null", None, True),
    ("null", 0, False),
    ("null", "", False),
])
def test_literals(entry: str, value: Any, expected: bool) -> None:
    assert matches(entry, value) is expected


@pytest.mark.parametrize(("entry", "value", "expected"), [
    ("< 5", 4, True),
    ("< 5", 5, False),
    ("<5", 4.9, True),
    ("<= 5", 5, True),
    ("<= 5", 6, False),
    ("> 5", 6, True),
    ("> 5", 5, False),
    (">= 10", 10, True),
    (">= 10", 9.99, False),
    ('!= "x"', "y", True),
    ('!= "x"', "x", False),
    ("!= null", 1, True),
    ("!= null", None, False),
    ("= 5", 5, True),
    ("== 5", 5, True),
    ('= "x"', "x", True),
    ('< "m"', "a", True),
    ("< 5", None, False),  # null-safe: FEEL gives null, so no match instead of TypeError
    (">= 10", None, False),
])
def test_comparisons(entry: str, value: Any, expected: bool) -> None:
    assert matches(entry, value) is expected


@pytest.mark.parametrize(("entry", "value", "expected"), [
    ("[1..5]", 1, True),
    ("[1..5]", 5, True),
    ("[1..5]", 3.5, True),
    ("[1..5]", 0, False),
    ("[1..5]", 6, False),
    ("]1..5[", 1, False),
    ("]1..5[", 5, False),
    ("]1..5[", 2, True),
    ("(1..5)", 1, False),
    ("(1..5)", 5, False),
    ("(1..5)", 4.99, True),
    ("[1..5)", 1, True),
    ("[1..5)", 5, False),
    ("(1..5]", 1, False),
    ("(1..5]", 5, True),
    ("[1..5[", 5, False),
    ("]1..5]", 5, True),
    ("[-5..-1]", -3, True),
    ("[-5..-1]", 0, False),
    ("[ 1 .. 5 ]", 3, True),
    ('["a".."c"]', "b", True),
    ('["a".."c"]', "d", False),
    ("[1..5]", None, False),
])
def test_ranges(entry: str, value: Any, expected: bool) -> None:
    assert matches(entry, value) is expected


@pytest.mark.parametrize(("entry", "value", "expected"), [
    ('"a","b"', "a", True),
    ('"a", "b"', "b", True),
    ('"a","b"', "c", False),
    ("< 0, > 10", -1, True),
    ("< 0, > 10", 11, True),
    ("< 0, > 10", 5, False),
    ("[1..2], [5..6], 9", 5.5, True),
    ("[1..2], [5..6], 9", 9, True),
    ("[1..2], [5..6], 9", 3, False),
    ('"a,b", "c"', "a,b", True),
    ('"a,b", "c"', "a", False),
    ("1, null", None, True),
])
def test_disjunctions(entry: str, value: Any, expected: bool) -> None:
    assert matches(entry, value) is expected


@pytest.mark.parametrize(("entry", "value", "expected"), [
    ('not("a","b")', "c", True),
    ('not("a","b")', "a", False),
    ('not("a")', None, True),
    ("not(< 5)", 6, True),
    ("not(< 5)", 4, False),
    ("not(< 5)", None, False),  # FEEL: not(null) is null, so no match
    ("not([1..5])", 6, True),
    ("not([1..5))", 5, True),
    ("not([1..5))", 4, False),
    ("not(null)", None, False),
    ("not(null)", 0, True),
    ("not (1, 2)", 3, True),
])
def test_negation(entry: str, value: Any, expected: bool) -> None:
    assert matches(entry, value) is expected


@pytest.mark.parametrize(("entry", "value", "expected"), [
    ("? > 3", 4, True),
    ("? > 3", 3, False),
    ("4 < ? < 6", 5, True),
    ("4 < ? < 6", 6, False),
    ('? == "what?"', "what?", True),
    ("?.startswith('ab')", "abc", True),
    ("? == true", True, True),
    ('in ("a","b")', "a", True),
    ('in ("a","b")', "c", False),
    ("in [1, 2, 3]", 2, True),
    ("not in [1, 2]", 3, True),
    ("not in [1, 2]", 1, False),
    ("is None", None, True),
    ("is not None", 0, True),
    ("% 2 == 0", 4, True),  # SpiffWorkflow: non-expression text gets the input prefixed
    ("% 2 == 0", 3, False),
])
def test_python_style_entries(entry: str, value: Any, expected: bool) -> None:
    assert matches(entry, value) is expected


def test_entries_may_reference_task_data() -> None:
    assert matches("< limit", 5, limit=10)
    assert not matches("< limit", 15, limit=10)
    assert matches("[low..high]", 5, low=1, high=9)
    assert matches("? > limit", 11, limit=10)
    assert matches("other", "x", other="x")


def test_translation_uses_the_given_variable_and_is_cached() -> None:
    assert unary_test_to_python("< 5", "col_3") == "col_3 is not None and col_3 < (5)"
    assert unary_test_to_python("? > 1", "col_3") == "col_3 > 1"
    unary_test_to_python("[7..8]", "cache_probe")
    before = unary_test_to_python.cache_info().hits
    unary_test_to_python("[7..8]", "cache_probe")
    assert unary_test_to_python.cache_info().hits == before + 1


@pytest.mark.parametrize("entry", ['"abc', "> 5 and < 3", "[1..", "1,,2", "<", "not(", "(1..5"])
def test_untranslatable_entries_raise_value_error(entry: str) -> None:
    with pytest.raises(ValueError, match="entry|unbalanced|unterminated|empty"):
        unary_test_to_python(entry, "v")


# --------------------------------------------------------------------------- hit policies

RISK_RULES = [
    ([">= 18", '"Low"'], ['"Approved"', '"Best"'], "adult, low risk"),
    ([">= 18", '"Medium"'], ['"Approved"', '"Standard"']),
    (["< 18", '"Low","Medium"'], ['"Declined"', '"Standard"']),
    (["-", '"High"'], ['"Declined"', '"Standard"']),
]
RISK_INPUTS = [("Age", "age", "number"), ("Risk", "risk", "string")]
RISK_OUTPUTS = [("status", "string"), ("rate", "string")]


def risk_table(hit_policy: str, rules: list[tuple] = RISK_RULES, **kwargs: Any) -> bytes:
    """The TCK-like approval table with a chosen hit policy."""
    return dmn_xml(rules, hit_policy=hit_policy, inputs=RISK_INPUTS, outputs=RISK_OUTPUTS, **kwargs)


def test_unique_single_match() -> None:
    result = run(risk_table("UNIQUE"), {"age": 30, "risk": "Low"})
    assert result.outputs == {"status": "Approved", "rate": "Best"}
    assert result.hit_policy == "UNIQUE"
    assert result.inputs == {"Age": 30, "Risk": "Low"}
    assert result.matched == [MatchedRule("rule1", 1, "adult, low risk", {"status": "Approved", "rate": "Best"})]


def test_unique_no_match_gives_none_per_output() -> None:
    result = run(risk_table("UNIQUE"), {"age": 30, "risk": "Unknown"})
    assert result.outputs == {"status": None, "rate": None}
    assert result.matched == []


def test_unique_violation_names_both_rules() -> None:
    rules = [*RISK_RULES, ([">= 65", "-"], ['"Approved"', '"Senior"'])]
    with pytest.raises(DecisionError) as info:
        run(risk_table("UNIQUE", rules), {"age": 70, "risk": "High"})
    message = str(info.value)
    assert "UNIQUE" in message and "'decide'" in message
    assert "rule 'rule4' (row 4)" in message and "rule 'rule5' (row 5)" in message
    assert info.value.rules == [("rule4", 4), ("rule5", 5)]
    assert info.value.decision_id == "decide"


def test_first_returns_first_match_in_rule_order() -> None:
    rules = [(["> 18"], ['"Cars"']), (["> 12"], ['"Videogames"']), (["> 0"], ['"Toys"'])]
    xml = dmn_xml(rules, hit_policy="FIRST", outputs=[("ad", "string")])
    result = run(xml, {"amount": 15})
    assert result.outputs == {"ad": "Videogames"}
    assert [m.row for m in result.matched] == [2]
    assert run(xml, {"amount": -1}).outputs == {"ad": None}


def test_priority_uses_output_values_order_not_rule_order() -> None:
    rules = [([">= 0"], ['"Low"']), ([">= 10"], ['"High"']), ([">= 5"], ['"Medium"'])]
    xml = dmn_xml(rules, hit_policy="PRIORITY", outputs=[("level", "string")],
                  output_values={"level": '"High", "Medium", "Low"'})
    assert run(xml, {"amount": 12}).outputs == {"level": "High"}
    assert run(xml, {"amount": 7}).outputs == {"level": "Medium"}
    result = run(xml, {"amount": 1})
    assert result.outputs == {"level": "Low"} and [m.row for m in result.matched] == [1]
    assert run(xml, {"amount": -1}).outputs == {"level": None}


def test_priority_multi_output_ranks_left_to_right_and_ties_keep_rule_order() -> None:
    xml = risk_table("PRIORITY", rules=[
        (["-", "-"], ['"Declined"', '"Standard"']),
        (["-", "-"], ['"Approved"', '"Standard"']),
        (["-", "-"], ['"Approved"', '"Best"']),
        (["-", "-"], ['"Approved"', '"Best"']),
    ], output_values={"status": '"Approved", "Declined"', "rate": '"Best", "Standard"'})
    result = run(xml, {"age": 1, "risk": "x"})
    assert result.outputs == {"status": "Approved", "rate": "Best"}
    assert [m.row for m in result.matched] == [3]


def test_priority_value_outside_the_list_ranks_last() -> None:
    xml = dmn_xml([(["-"], ['"Other"']), (["-"], ['"B"'])], hit_policy="PRIORITY",
                  outputs=[("x", "string")], output_values={"x": '"A", "B"'})
    assert run(xml, {"amount": 1}).outputs == {"x": "B"}


def test_priority_without_output_values_is_an_error() -> None:
    xml = dmn_xml([(["-"], ['"A"'])], hit_policy="PRIORITY")
    with pytest.raises(DecisionError, match="PRIORITY needs outputValues"):
        run(xml, {"amount": 1})


def test_any_with_equal_outputs() -> None:
    rules = [([">= 18"], ['"Yes"']), ([">= 21"], ['"Yes"']), (["< 18"], ['"No"'])]
    xml = dmn_xml(rules, hit_policy="ANY", outputs=[("ok", "string")])
    result = run(xml, {"amount": 30})
    assert result.outputs == {"ok": "Yes"}
    assert [m.row for m in result.matched] == [1, 2]
    assert run(xml, {"amount": None}).outputs == {"ok": None}


def test_any_conflict_names_the_rules() -> None:
    xml = risk_table("ANY", rules=[
        (["-", '"High"'], ['"Declined"', '"Standard"']),
        ([">= 18", "-"], ['"Approved"', '"Standard"']),
    ])
    assert run(xml, {"age": 10, "risk": "High"}).outputs == {"status": "Declined", "rate": "Standard"}
    with pytest.raises(DecisionError) as info:
        run(xml, {"age": 20, "risk": "High"})
    message = str(info.value)
    assert "ANY" in message and "row 1" in message and "row 2" in message
    assert info.value.rules == [("rule1", 1), ("rule2", 2)]


def test_collect_without_aggregation_lists_outputs_in_rule_order() -> None:
    result = run(risk_table("COLLECT"), {"age": 20, "risk": "Low"})
    assert result.outputs == {"status": ["Approved"], "rate": ["Best"]}
    xml = dmn_xml([(["> 1"], ["10"]), (["> 2"], ["20"]), (["> 3"], ["30"])], hit_policy="COLLECT",
                  outputs=[("fee", "number")])
    result = run(xml, {"amount": 5})
    assert result.outputs == {"fee": [10, 20, 30]}
    assert [m.row for m in result.matched] == [1, 2, 3]
    assert run(xml, {"amount": 0}).outputs == {"fee": []}


def test_collect_multi_output_gives_a_list_per_output() -> None:
    xml = risk_table("COLLECT", rules=[
        (["-", '"High"'], ['"Declined"', '"Standard"']),
        (["< 18", "-"], ['"Declined"', '"Junior"']),
        ([">= 18", "-"], ['"Approved"', '"Standard"']),
    ])
    result = run(xml, {"age": 16, "risk": "High"})
    assert result.outputs == {"status": ["Declined", "Declined"], "rate": ["Standard", "Junior"]}
    assert run(xml, {"age": 30, "risk": "Low"}).outputs == {"status": ["Approved"], "rate": ["Standard"]}
    assert run(xml, {"age": None, "risk": "Low"}).outputs == {"status": [], "rate": []}


COLLECT_RULES = [(["> 1"], ["100"]), (["> 2"], ["200"]), (["> 3"], ["300"]), (["> 5"], ["500"]),
                 (["> 6"], ["null"])]


@pytest.mark.parametrize(("aggregation", "amount", "expected"), [
    ("SUM", 4, 600),
    ("SUM", 2, 100),
    ("SUM", 0, None),
    ("MIN", 4, 100),
    ("MIN", 0, None),
    ("MAX", 4, 300),
    ("MAX", 10, 500),  # the null output is ignored
    ("COUNT", 4, 3),
    ("COUNT", 10, 5),  # COUNT counts hits
    ("COUNT", 0, 0),
])
def test_collect_aggregations(aggregation: str, amount: int, expected: Any) -> None:
    xml = dmn_xml(COLLECT_RULES, hit_policy="COLLECT", aggregation=aggregation, outputs=[("total", "number")])
    result = run(xml, {"amount": amount})
    assert result.outputs == {"total": expected}
    assert result.aggregation == aggregation
    assert result.to_event()["aggregation"] == aggregation


def test_collect_aggregation_argument_and_abbreviated_policies() -> None:
    table, _ = parse(dmn_xml(COLLECT_RULES, hit_policy="COLLECT", outputs=[("total", "number")]))
    assert evaluate_table(table, {"amount": 4}, plain_eval, aggregation="sum").outputs == {"total": 600}
    table.hit_policy = "C#"
    assert evaluate_table(table, {"amount": 4}, plain_eval).outputs == {"total": 3}
    table.hit_policy = "C<"
    assert evaluate_table(table, {"amount": 4}, plain_eval).outputs == {"total": 100}


def test_collect_sum_of_strings_is_an_error() -> None:
    xml = dmn_xml([(["-"], ['"a"']), (["-"], ['"b"'])], hit_policy="COLLECT", aggregation="SUM")
    with pytest.raises(DecisionError, match="SUM"):
        run(xml, {"amount": 1})


@pytest.mark.parametrize(("policy", "aggregation", "outputs", "message"), [
    ("COLLECT", "AVG", [("total", "number")], "unknown aggregation"),
    ("FIRST", "SUM", [("total", "number")], "only allowed with hit policy COLLECT"),
    ("COLLECT", "SUM", [("a", "number"), ("b", "number")], "exactly one output"),
])
def test_invalid_aggregations(policy: str, aggregation: str, outputs: list, message: str) -> None:
    xml = dmn_xml([(["-"], ["1"] * len(outputs))], hit_policy=policy, outputs=outputs)
    table, _ = parse(xml)
    with pytest.raises(DecisionError, match=message):
        evaluate_table(table, {"amount": 1}, plain_eval, aggregation=aggregation)


def test_rule_order_lists_all_hits_in_rule_order() -> None:
    xml = dmn_xml([([">= 18"], ['"Best"']), ([">= 12"], ['"Standard"']), (["< 12"], ['"Standard"'])],
                  hit_policy="RULE ORDER", outputs=[("rate", "string")])
    assert run(xml, {"amount": 19}).outputs == {"rate": ["Best", "Standard"]}
    assert run(xml, {"amount": 5}).outputs == {"rate": ["Standard"]}
    assert run(xml, {"amount": None}).outputs == {"rate": []}


def test_output_order_sorts_hits_by_output_values() -> None:
    xml = risk_table("OUTPUT ORDER", rules=[
        ([">= 18", '"Medium","Low"'], ['"Approved"', '"Basic"']),
        (["< 18", "-"], ['"Declined"', '"Standard"']),
        (["-", '"High"'], ['"Approved"', '"Standard"']),
    ], output_values={"status": '"Approved", "Declined"'})
    result = run(xml, {"age": 17, "risk": "High"})
    assert result.outputs == {"status": ["Approved", "Declined"], "rate": ["Standard", "Standard"]}
    assert [m.row for m in result.matched] == [3, 2]
    assert run(xml, {"age": 40, "risk": "None"}).outputs == {"status": [], "rate": []}


def test_output_order_without_output_values_is_an_error() -> None:
    xml = dmn_xml([(["-"], ['"A"'])], hit_policy="OUTPUT ORDER")
    with pytest.raises(DecisionError, match="OUTPUT ORDER needs outputValues"):
        run(xml, {"amount": 1})


def test_unknown_hit_policy() -> None:
    table, _ = parse(dmn_xml([(["-"], ['"A"'])], hit_policy="SOMETIMES"))
    with pytest.raises(DecisionError, match="unknown hit policy 'SOMETIMES'"):
        evaluate_table(table, {"amount": 1}, plain_eval)
    assert any("unknown hit policy" in p for p in check_table(table))


def test_default_output_entries_apply_on_no_match() -> None:
    xml = risk_table("UNIQUE", defaults={"status": '"Declined"', "rate": '"Standard"'})
    table, meta = parse(xml)
    assert meta["default_outputs"] == {"status": '"Declined"', "rate": '"Standard"'}
    result = evaluate_table(table, {"age": 30, "risk": "Unknown"}, plain_eval,
                            default_outputs=meta["default_outputs"])
    assert result.outputs == {"status": "Declined", "rate": "Standard"}
    assert result.matched == [] and result.used_defaults
    hit = evaluate_table(table, {"age": 30, "risk": "Low"}, plain_eval, default_outputs=meta["default_outputs"])
    assert hit.outputs == {"status": "Approved", "rate": "Best"} and not hit.used_defaults


# --------------------------------------------------------------------------- inputs, outputs, errors

def test_dash_and_empty_entries_parse_to_none_and_match_anything() -> None:
    table, _ = parse(dmn_xml([(["-"], ['"dash"']), ([""], ['"empty"'])], hit_policy="COLLECT"))
    assert [rule.inputEntries[0].lhs for rule in table.rules] == [[None], [None]]
    assert evaluate_table(table, {"amount": None}, plain_eval).outputs == {"result": ["dash", "empty"]}


def test_output_entries_map_feel_literals_and_evaluate_expressions() -> None:
    xml = dmn_xml([(["-"], ["true", "false", "null", '"text"', "amount * 2", "[1, 2]", "-3"])],
                  outputs=[("t", "boolean"), ("f", "boolean"), ("n", "string"), ("s", "string"),
                           ("double", "number"), ("items", "string"), ("neg", "number")])
    result = run(xml, {"amount": 21})
    assert result.outputs == {"t": True, "f": False, "n": None, "s": "text", "double": 42,
                              "items": [1, 2], "neg": -3}


def test_empty_output_entry_is_none() -> None:
    xml = dmn_xml([(["-"], [""])])
    assert run(xml, {"amount": 1}).outputs == {"result": None}


def test_input_expressions_are_evaluated() -> None:
    xml = dmn_xml([(["> 100"], ['"big"']), (["<= 100"], ['"small"'])],
                  inputs=[("Total", 'amount * qty', "number")])
    result = run(xml, {"amount": 30, "qty": 4})
    assert result.outputs == {"result": "big"} and result.inputs == {"Total": 120}
    xml = dmn_xml([(["true"], ['"vip"']), (["false"], ['"std"'])],
                  inputs=[("VIP", 'customer["tier"] == "gold"', "boolean")])
    assert run(xml, {"customer": {"tier": "gold"}}).outputs == {"result": "vip"}


def test_number_type_ref_does_not_coerce_strings() -> None:
    xml = dmn_xml([(["5"], ['"five"'])], inputs=[("Amount", "amount", "number")])
    assert run(xml, {"amount": "5"}).outputs == {"result": None}
    assert run(xml, {"amount": 5}).outputs == {"result": "five"}


def test_failing_entry_names_rule_and_row() -> None:
    xml = dmn_xml([(['"x"'], ['"a"']), (["> 5"], ['"b"'])])
    with pytest.raises(DecisionError) as info:
        run(xml, {"amount": "text"})
    message = str(info.value)
    assert "rule 'rule2' (row 2)" in message and "'Amount'" in message and "> 5" in message
    assert info.value.rules == [("rule2", 2)]


def test_first_ignores_failures_after_the_first_match() -> None:
    xml = dmn_xml([(['"text"'], ['"a"']), (["> 5"], ['"b"'])], hit_policy="FIRST")
    assert run(xml, {"amount": "text"}).outputs == {"result": "a"}


def test_missing_input_variable_is_a_decision_error() -> None:
    with pytest.raises(DecisionError, match="input 'Amount'"):
        run(dmn_xml([(["> 5"], ['"b"'])]), {})


def test_failing_output_entry_names_rule() -> None:
    with pytest.raises(DecisionError, match=r"rule 'rule1' \(row 1\), output 'result'"):
        run(dmn_xml([(["-"], ["unknown_name + 1"])]), {"amount": 1})


def test_matching_uses_one_evaluator_call_for_the_whole_table() -> None:
    rules = [([f"[{n}..{n + 1})"], [f'"r{n}"']) for n in range(50)]
    recorder = RecordingEval()
    result = run(dmn_xml(rules), {"amount": 7.5}, evaluate=recorder)
    assert result.outputs == {"result": "r7"}
    # Input "amount" is read from data and outputs are literals: only the match needs the evaluator.
    assert len(recorder.calls) == 1
    assert all("eval" not in call for call in recorder.calls)


def test_works_with_the_engine_sandbox() -> None:
    from app.engine import sandbox

    rules = [
        (["[1..5]", '"a","b"', "true"], ['"range"']),
        (["< 0, > 100", "-", "-"], ['"outside"']),
        (["? > 50", 'not("x")', "-"], ['"python"']),
        (['in (7, 8)', "-", "null"], ['"null flag"']),
    ]
    xml = dmn_xml(rules, hit_policy="COLLECT",
                  inputs=[("N", "n", "number"), ("S", "s", "string"), ("Flag", "flag", "boolean")])
    result = run(xml, {"n": 3, "s": "b", "flag": True}, evaluate=sandbox.evaluate)
    assert result.outputs == {"result": ["range"]}
    assert run(xml, {"n": 60, "s": "y", "flag": False}, evaluate=sandbox.evaluate).outputs == {"result": ["python"]}
    assert run(xml, {"n": 7, "s": "x", "flag": None}, evaluate=sandbox.evaluate).outputs == {"result": ["null flag"]}
    table, _ = parse(xml)
    assert check_table(table, check=sandbox.check) == []


def test_to_event_is_json_serialisable() -> None:
    xml = dmn_xml([(["-"], ["when"])], inputs=[("Amount", "amount", "number")])
    data = {"amount": Decimal("2.50"), "when": datetime(2024, 1, 2, 3, 4, 5)}
    event = run(xml, data).to_event()
    text = json.dumps(event)
    assert json.loads(text) == {
        "decision_id": "decide", "hit_policy": "UNIQUE", "aggregation": None,
        "inputs": {"Amount": 2.5}, "outputs": {"result": "2024-01-02T03:04:05"},
        "matched": [{"rule_id": "rule1", "row": 1, "description": "",
                     "outputs": {"result": "2024-01-02T03:04:05"}}],
        "matched_rows": [1], "used_defaults": False,
    }
    result = DecisionResult("d", "COLLECT", {"x": {2, 1}, "nan": Decimal("NaN")}, {"y": [date(2024, 1, 1)]}, [])
    event = json.loads(json.dumps(result.to_event(), allow_nan=False))
    assert event["outputs"] == {"y": ["2024-01-01"]}
    assert event["inputs"] == {"x": [1, 2], "nan": "NaN"}


def test_errors_name_the_table_when_no_decision_id_is_given() -> None:
    table, _ = parse(dmn_xml([(["-"], ['"A"']), (["-"], ['"B"'])]))
    with pytest.raises(DecisionError, match="^decision table 'decide_table': hit policy UNIQUE") as info:
        evaluate_table(table, {"amount": 1}, plain_eval)
    assert info.value.decision_id == "decide_table"


def test_decision_id_can_be_given() -> None:
    table, _ = parse(dmn_xml([(["-"], ['"A"'])]))
    assert evaluate_table(table, {"amount": 1}, plain_eval).decision_id == "decide_table"
    assert evaluate_table(table, {"amount": 1}, plain_eval, decision_id="decide").decision_id == "decide"


def test_tables_built_from_model_classes() -> None:
    table = DecisionTable("t1", "Routing", "FIRST")
    table.inputs.append(Input("i1", "Category", "category", "category", "string"))
    table.outputs.append(Output("o1", "Team", "team", "string"))
    for row, (test, team) in enumerate([('"network", "vpn"', '"netops"'), ("-", '"service desk"')], start=1):
        rule = Rule(f"r{row}")
        rule.row_number = row
        entry = InputEntry(f"r{row}i", table.inputs[0])
        entry.lhs.append(None if test == "-" else test)
        out = OutputEntry(f"r{row}o", table.outputs[0])
        out.text = team
        rule.inputEntries.append(entry)
        rule.outputEntries.append(out)
        table.rules.append(rule)
    assert evaluate_table(table, {"category": "vpn"}, plain_eval).outputs == {"team": "netops"}
    assert evaluate_table(table, {"category": "printer"}, plain_eval).outputs == {"team": "service desk"}
    assert check_table(table) == []


# --------------------------------------------------------------------------- metadata and checks

def test_table_metadata_reads_what_spiffworkflow_drops() -> None:
    xml = risk_table("OUTPUT ORDER", output_values={"status": '"Approved", "Declined"', "rate": "1, 2.5, true, null"},
                     defaults={"rate": '"Standard"'})
    for source in (xml, xml.decode(), etree.fromstring(xml)):
        meta = table_metadata(source)
        assert set(meta) == {"decide", "decide_table"}
        entry = meta["decide"]
        assert entry is meta["decide_table"]
        assert entry["hit_policy"] == "OUTPUT ORDER" and entry["aggregation"] is None
        assert entry["output_values"] == {"status": ["Approved", "Declined"], "rate": [1, 2.5, True, None]}
        assert entry["default_outputs"] == {"rate": '"Standard"'}
        assert entry["output_type_refs"] == {"status": "string", "rate": "string"}
        assert entry["input_type_refs"] == {"Age": "number", "Risk": "string"}
        assert entry["decision_name"] == "Decide" and entry["output_names"] == ["status", "rate"]
    table_element = etree.fromstring(dmn_xml(COLLECT_RULES, hit_policy="COLLECT", aggregation="COUNT")) \
        .find(f"{{{DMN_NS}}}decision/{{{DMN_NS}}}decisionTable")
    assert table_metadata(table_element)["decide_table"]["aggregation"] == "COUNT"


def test_check_table_clean() -> None:
    table, meta = parse(risk_table("PRIORITY", output_values={"status": '"Approved", "Declined"'}))
    assert check_table(table) == []
    assert check_table(table, metadata=meta) == []


def test_check_table_reports_problems() -> None:
    xml = dmn_xml([(["> 5 and < 3", '"a'], ['"x"', "1"])], hit_policy="PRIORITY",
                  inputs=[("A", "a", ""), ("B", "b", "string")], outputs=[("", "string"), ("n", "")])
    table, meta = parse(xml)
    problems = check_table(table, metadata=meta)
    text = "\n".join(problems)
    assert "rule 'rule1' (row 1)" in text
    assert "'> 5 and < 3'" in text and "unterminated string" in text
    assert "output 'out0' has no name" in text
    assert "output 'n' has no typeRef" in text
    assert "input 'A' has no typeRef" in text
    assert "PRIORITY needs outputValues" in text
    table.rules[0].outputEntries[1].text = "1 +"
    table.hit_policy = "MOSTLY"
    problems = check_table(table, metadata={"aggregation": "SUM"})
    assert any("output entry '1 +' does not compile" in p for p in problems)
    assert any("unknown hit policy 'MOSTLY'" in p for p in problems)
    assert any("aggregation SUM is only allowed with hit policy COLLECT" in p for p in problems)


def test_check_table_uses_the_given_compile_check() -> None:
    table, _ = parse(dmn_xml([(["< _secret"], ['"x"'])]))
    assert check_table(table) == []
    problems = check_table(table, check=lambda src: "underscore names refused" if "_secret" in src else None)
    assert problems and "underscore names refused" in problems[0]
