"""Decision-table evaluation over SpiffWorkflow's parsed DMN model, with full hit-policy support.

SpiffWorkflow 3.2 only knows UNIQUE (first match, unchecked) and COLLECT, and treats every entry
as Python. This layer takes the DecisionTable that SpiffWorkflow's DMNParser builds and evaluates it
itself:

* Hit policies: UNIQUE, FIRST, PRIORITY, ANY, COLLECT (with SUM/MIN/MAX/COUNT aggregation or
  none), RULE ORDER, OUTPUT ORDER; the one-letter forms (U, F, P, A, C, C+, C<, C>, C#, R, O) too.
* Input entries: FEEL simple unary tests (``-``, literals, ``< 5``, ``[1..5]``, ``"a","b"``,
  ``not(...)``) and SpiffWorkflow-style Python (``? > 3``, ``in ("a", "b")``). Each entry is
  translated once (cached) into a Python boolean expression and run through the caller's
  sandboxed ``evaluate``; this module never evaluates code itself.
* Output entries and input expressions are Python with FEEL's ``true``/``false``/``null``
  mapped to ``True``/``False``/``None``.

Choices:

* No match, single-hit policies (UNIQUE, FIRST, PRIORITY, ANY): every output name maps to None
  (or to its ``defaultOutputEntry`` when ``default_outputs`` is given), so that a re-evaluated
  decision clears stale task data and later gateway conditions see the name. ``matched`` is empty.
* Multi-hit policies (COLLECT, RULE ORDER, OUTPUT ORDER) always give ``{output name: [values]}``,
  one list element per hit, even for one output; no match gives empty lists.
* COLLECT aggregation (single-output tables only, as in the DMN spec): COUNT is the number of
  hits (0 on no match); SUM, MIN and MAX skip None values and give None when nothing is left.
* COLLECT returns hits in rule order, which is deterministic and allowed by "arbitrary order".
* PRIORITY and OUTPUT ORDER rank hits by the position of each output's value in that output's
  ``outputValues`` list (outputs are compared left to right; a value missing from the list ranks
  last; outputs without a list are ignored; ties keep rule order). No list at all is an error.
* ANY with hits whose outputs differ raises DecisionError, as does UNIQUE with two or more hits.
* Ordering comparisons and ranges are null-safe: a None input never matches ``< 5`` or
  ``[1..5]`` (FEEL yields null there), instead of raising TypeError.
* Type coercion is minimal: values are compared as they are in task data. A typeRef of "number"
  does not turn the string "5" into 5, so "5" does not match ``5`` or ``> 3`` (the latter is a
  DecisionError, since Python cannot order str and int); ``true`` matches only the bool True.
* A missing input variable is whatever the evaluator makes of it (the sandbox raises), reported
  as a DecisionError naming the decision and the input.
"""
from __future__ import annotations

import ast
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any

from lxml import etree

Evaluator = Callable[[str, dict], Any]

#: Name under which an input column's value is visible to its entries; no leading underscore,
#: because RestrictedPython refuses such names.
INPUT_VAR = "dmn_input"

SINGLE_HIT = ("UNIQUE", "FIRST", "PRIORITY", "ANY")
MULTI_HIT = ("COLLECT", "RULE ORDER", "OUTPUT ORDER")
HIT_POLICIES = SINGLE_HIT + MULTI_HIT
AGGREGATIONS = ("SUM", "MIN", "MAX", "COUNT")
_ABBREVIATIONS = {
    "U": ("UNIQUE", None), "A": ("ANY", None), "P": ("PRIORITY", None), "F": ("FIRST", None),
    "C": ("COLLECT", None), "R": ("RULE ORDER", None), "O": ("OUTPUT ORDER", None),
    "C+": ("COLLECT", "SUM"), "C<": ("COLLECT", "MIN"), "C>": ("COLLECT", "MAX"), "C#": ("COLLECT", "COUNT"),
}
_SCALARS = (str, int, float, bool, type(None))


class DecisionError(Exception):
    """A decision could not be evaluated; the message names the decision and the rules involved."""

    def __init__(self, message: str, *, decision_id: str | None = None,
                 rules: list[tuple[str, int]] | None = None):
        super().__init__(message)
        self.decision_id = decision_id
        self.rules = list(rules or [])


@dataclass
class MatchedRule:
    """One rule that contributed to a decision's result."""

    rule_id: str
    row: int
    description: str
    outputs: dict

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-serialisable form."""
        return {"rule_id": self.rule_id, "row": self.row, "description": self.description,
                "outputs": _jsonable(self.outputs)}


@dataclass
class DecisionResult:
    """The outcome of one decision-table evaluation."""

    decision_id: str
    hit_policy: str
    inputs: dict
    outputs: dict | list
    matched: list[MatchedRule]
    aggregation: str | None = None
    used_defaults: bool = field(default=False)

    def to_event(self) -> dict:
        """Return a JSON-serialisable dict for the audit log."""
        return {
            "decision_id": self.decision_id,
            "hit_policy": self.hit_policy,
            "aggregation": self.aggregation,
            "inputs": _jsonable(self.inputs),
            "outputs": _jsonable(self.outputs),
            "matched": [m.to_dict() for m in self.matched],
            "matched_rows": [m.row for m in self.matched],
            "used_defaults": self.used_defaults,
        }


# --------------------------------------------------------------------------- text helpers

def _string_end(text: str, start: int) -> int:
    quote = text[start]
    i = start + 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote:
            return i + 1
        i += 1
    raise ValueError(f"unterminated string literal in {text!r}")


def _map_code(text: str, fn: Callable[[str], str]) -> str:
    """Apply fn to the parts of text outside string literals."""
    out, i, start = [], 0, 0
    while i < len(text):
        if text[i] in "\"'":
            out.append(fn(text[start:i]))
            end = _string_end(text, i)
            out.append(text[i:end])
            i = start = end
        else:
            i += 1
    out.append(fn(text[start:]))
    return "".join(out)


_FEEL_WORDS = re.compile(r"(?<![\w.])(true|false|null)(?!\w)")
_FEEL_MAP = {"true": "True", "false": "False", "null": "None"}


@lru_cache(maxsize=4096)
def feel_to_python(expression: str) -> str:
    """Map FEEL's true/false/null to Python outside string literals; the rest is taken as Python."""
    return _map_code(expression.strip(), lambda s: _FEEL_WORDS.sub(lambda m: _FEEL_MAP[m.group(1)], s))


_NUM = r"[+-]?\s*(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"
_STR = r'"(?:[^"\\]|\\.)*"'
_NAME = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*"
_ENDPOINT = rf"(?:{_NAME}\(\s*(?:{_STR}|{_NUM})?\s*\)|{_STR}|{_NUM}|{_NAME})"
_RANGE_RE = re.compile(rf"\s*([\[(\]])\s*({_ENDPOINT})\s*\.\.\s*({_ENDPOINT})\s*([\])\[])", re.DOTALL)
_COMPARISON_RE = re.compile(r"(<=|>=|!=|==|<|>|=)\s*(.+)", re.DOTALL)
_PY_OPERATOR_RE = re.compile(r"(not\s+in|in|is\s+not|is)\b\s*(.*)", re.DOTALL)
_NOT_RE = re.compile(r"not\s*\((.*)\)", re.DOTALL)


def _split_top_level(text: str) -> list[str]:
    """Split on commas outside strings, brackets and FEEL ranges (whose brackets need not pair)."""
    parts: list[str] = []
    depth = start = i = 0
    at_start = True
    while i < len(text):
        ch = text[i]
        if at_start:
            if ch.isspace():
                i += 1
                continue
            at_start = False
            match = _RANGE_RE.match(text, i)
            if match:
                i = match.end()
                continue
        if ch in "\"'":
            i = _string_end(text, i)
            continue
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced brackets in {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
            at_start = True
        i += 1
    if depth:
        raise ValueError(f"unbalanced brackets in {text!r}")
    parts.append(text[start:].strip())
    return parts


def _has_placeholder(text: str) -> bool:
    found: list[bool] = []

    def look(segment: str) -> str:
        found.append("?" in segment)
        return segment

    _map_code(text, look)
    return any(found)


def _valid(expr: str) -> str | None:
    try:
        ast.parse(expr, mode="eval")
    except SyntaxError as exc:
        return exc.msg
    return None


def _equality(var: str, rhs: str) -> str:
    # Identity for the FEEL singletons keeps 1 from matching true and 0 from matching false.
    if rhs in ("None", "True", "False"):
        return f"{var} is {rhs}"
    return f"{var} == ({rhs})"


def _single_test(test: str, var: str) -> tuple[str, bool]:
    """Translate one positive unary test; the flag says it is an ordering test (null-guarded)."""
    if not test:
        raise ValueError("empty test in a comma-separated list")
    rng = _RANGE_RE.fullmatch(test)
    if rng:
        opening, low, high, closing = rng.groups()
        low_op = "<=" if opening == "[" else "<"
        high_op = "<=" if closing == "]" else "<"
        low, high = feel_to_python(low), feel_to_python(high)
        return f"{var} is not None and ({low}) {low_op} {var} {high_op} ({high})", True
    comparison = _COMPARISON_RE.fullmatch(test)
    if comparison:
        op, rhs = comparison.groups()
        rhs = feel_to_python(rhs)
        if op in ("=", "=="):
            return _equality(var, rhs), False
        if op == "!=":
            return (f"{var} is not {rhs}" if rhs in ("None", "True", "False") else f"{var} != ({rhs})"), False
        return f"{var} is not None and {var} {op} ({rhs})", True
    operator = _PY_OPERATOR_RE.fullmatch(test)
    if operator:
        op, rest = operator.groups()
        return f"{var} {' '.join(op.split())} {feel_to_python(rest)}", False
    rhs = feel_to_python(test)
    expr = _equality(var, rhs)
    if _valid(expr) is not None and _valid(f"{var} {rhs}") is None:
        # SpiffWorkflow's convention: text that is not an expression gets the input prefixed.
        return f"{var} {rhs}", False
    return expr, False


def _tests_to_python(text: str, var: str) -> str:
    negation = _NOT_RE.fullmatch(text)
    if negation:
        try:
            _split_top_level(negation.group(1))
        except ValueError:
            negation = None  # e.g. "not(a) or not(b)": the parentheses do not enclose the whole entry
    if negation:
        inner = [_single_test(t, var) for t in _split_top_level(negation.group(1))]
        body = " or ".join(f"({expr})" for expr, _ in inner)
        if any(ordered for _, ordered in inner):
            # FEEL: not(null) is null, so a None input matches no negated ordering test either.
            return f"{var} is not None and not ({body})"
        return f"not ({body})"
    tests = [_single_test(t, var) for t in _split_top_level(text)]
    if len(tests) == 1:
        return tests[0][0]
    return " or ".join(f"({expr})" for expr, _ in tests)


@lru_cache(maxsize=8192)
def unary_test_to_python(entry: str | None, input_var: str = INPUT_VAR) -> str | None:
    """Translate one input entry to a Python boolean expression over input_var; None matches anything."""
    if entry is None:
        return None
    text = entry.strip()
    if text in ("", "-"):
        return None
    if not input_var.isidentifier():
        raise ValueError(f"{input_var!r} is not a valid variable name")
    if _has_placeholder(text):
        # Python (SpiffWorkflow) or FEEL generalised unary test: '?' stands for the input value.
        expr = _map_code(feel_to_python(text), lambda s: s.replace("?", input_var))
    else:
        expr = _tests_to_python(text, input_var)
    problem = _valid(expr)
    if problem is not None:
        raise ValueError(f"cannot translate input entry {entry!r}: {problem}")
    return expr


@lru_cache(maxsize=4096)
def _scalar_literal(text: str) -> tuple[bool, Any]:
    """Return (True, value) when text is a plain scalar literal that needs no evaluation."""
    try:
        value = ast.literal_eval(feel_to_python(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False, None
    # Only immutable scalars are shared from the cache; lists and dicts go through the evaluator.
    return (True, value) if isinstance(value, _SCALARS) else (False, None)


def _parse_value_list(text: str | None) -> list[Any]:
    """Parse an outputValues/inputValues list such as '"High", "Low"' into Python values."""
    if not text or not text.strip():
        return []
    values: list[Any] = []
    for part in _split_top_level(text.strip()):
        known, value = _scalar_literal(part)
        values.append(value if known else part)
    return values


# --------------------------------------------------------------------------- model helpers

def _output_key(output: Any) -> str:
    return output.name or output.label or output.id


def _input_key(inp: Any) -> str:
    return inp.label or inp.name or (inp.expression or "").strip() or inp.id


def _rule_ref(rule: Any) -> str:
    return f"rule {rule.id!r} (row {rule.row_number})"


def _normalize_policy(hit_policy: str | None, aggregation: str | None) -> tuple[str, str | None]:
    policy = " ".join((hit_policy or "UNIQUE").replace("_", " ").upper().split())
    agg = aggregation.strip().upper() if aggregation and aggregation.strip() else None
    if policy in _ABBREVIATIONS:
        policy, implied = _ABBREVIATIONS[policy]
        agg = agg or implied
    return policy, agg


def _describe(decision_id: str | None, table: Any) -> str:
    label = f"decision {decision_id!r}" if decision_id else f"decision table {table.id!r}"
    if table.name and table.name not in (decision_id, table.id):
        label += f" ({table.name})"
    return label


def _jsonable(value: Any) -> Any:
    """Turn task-data values into something json.dumps accepts."""
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return sorted((_jsonable(v) for v in value), key=repr)  # stable order for the audit log
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return repr(value)


# --------------------------------------------------------------------------- evaluation

def _evaluate_input(inp: Any, data: dict, evaluate: Evaluator, where: str, decision_id: str) -> Any:
    expr = (inp.expression or "").strip()
    if not expr:
        # SpiffWorkflow's fallback: an input without expression reads the variable of its name/label.
        key = inp.name or inp.label
        if key in data:
            return data[key]
        raise DecisionError(f"{where}: input {_input_key(inp)!r} has no expression and no such variable",
                            decision_id=decision_id)
    if expr.isidentifier() and expr in data:
        return data[expr]  # the common case needs no round trip through the sandbox
    known, value = _scalar_literal(expr)
    if known:
        return value
    try:
        return evaluate(feel_to_python(expr), data)
    except Exception as exc:
        raise DecisionError(f"{where}: input {_input_key(inp)!r} (expression {expr!r}) failed: {exc}",
                            decision_id=decision_id) from exc


def _rule_tests(table: Any, rule: Any, where: str, decision_id: str) -> list[tuple[int, str, str]]:
    """Return (column, source text, Python test) for each constrained entry of a rule."""
    tests = []
    for column, entry in enumerate(rule.inputEntries):
        for text in entry.lhs:
            try:
                expr = unary_test_to_python(text, f"{INPUT_VAR}_{column}")
            except ValueError as exc:
                raise DecisionError(f"{where}: {_rule_ref(rule)}: {exc}", decision_id=decision_id,
                                    rules=[(rule.id, rule.row_number)]) from exc
            if expr is not None:
                tests.append((column, text, expr))
    return tests


def _match_rules(table: Any, ctx: dict, evaluate: Evaluator, where: str, decision_id: str,
                 first_only: bool) -> list[Any]:
    rule_tests = [_rule_tests(table, rule, where, decision_id) for rule in table.rules]
    conditions = [" and ".join(f"({expr})" for _, _, expr in tests) or "True" for tests in rule_tests]
    if not conditions:
        return []
    # One evaluator call for the whole table; per-entry calls only to locate a failure.
    try:
        flags = evaluate("[" + ", ".join(conditions) + "]", ctx)
    except Exception:  # noqa: BLE001 - the per-entry pass below reports the failure precisely
        flags = None
    if isinstance(flags, (list, tuple)) and len(flags) == len(conditions):
        hits = [rule for rule, flag in zip(table.rules, flags) if flag]
        return hits[:1] if first_only else hits
    hits = []
    for rule, tests in zip(table.rules, rule_tests):
        matched = True
        for column, text, expr in tests:
            try:
                ok = evaluate(expr, ctx)
            except Exception as exc:
                label = _input_key(table.inputs[column]) if column < len(table.inputs) else str(column)
                raise DecisionError(
                    f"{where}: {_rule_ref(rule)}, input {label!r}: entry {text!r} failed: {exc}",
                    decision_id=decision_id, rules=[(rule.id, rule.row_number)]) from exc
            if not ok:
                matched = False
                break
        if matched:
            hits.append(rule)
            if first_only:
                break
    return hits


def _evaluate_output(text: str | None, data: dict, evaluate: Evaluator) -> Any:
    if text is None or not text.strip():
        return None
    known, value = _scalar_literal(text)
    if known:
        return value
    return evaluate(feel_to_python(text), data)


def _rule_outputs(table: Any, rule: Any, data: dict, evaluate: Evaluator, where: str,
                  decision_id: str) -> dict:
    outputs = {_output_key(o): None for o in table.outputs}
    for entry in rule.outputEntries:
        key = _output_key(entry.output)
        try:
            outputs[key] = _evaluate_output(entry.text, data, evaluate)
        except Exception as exc:
            raise DecisionError(f"{where}: {_rule_ref(rule)}, output {key!r}: entry {entry.text!r} failed: {exc}",
                                decision_id=decision_id, rules=[(rule.id, rule.row_number)]) from exc
    return outputs


def _same(a: Any, b: Any) -> bool:
    # 1 and 1.0 are the same value, True and 1 are not.
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    numbers = (int, float, Decimal)
    if isinstance(a, numbers) and isinstance(b, numbers):
        return a == b
    return type(a) is type(b) and a == b


def _priority_key(outputs: dict, ranking: list[tuple[str, list]]) -> tuple[int, ...]:
    key = []
    for name, values in ranking:
        value = outputs.get(name)
        position = next((i for i, v in enumerate(values) if _same(v, value)), None)
        key.append(len(values) if position is None else position)
    return tuple(key)


def _ranking(table: Any, output_values: dict[str, list] | None, where: str, policy: str,
             decision_id: str) -> list[tuple[str, list]]:
    output_values = output_values or {}
    ranking = []
    for output in table.outputs:
        values = output_values.get(_output_key(output)) or output_values.get(output.id)
        if values:
            ranking.append((_output_key(output), list(values)))
    if not ranking:
        raise DecisionError(f"{where}: hit policy {policy} needs outputValues on at least one output",
                            decision_id=decision_id)
    return ranking


def _aggregate(agg: str, values: list, where: str, decision_id: str, rules: list[MatchedRule]) -> Any:
    if agg == "COUNT":
        return len(values)
    present = [v for v in values if v is not None]
    if not present:
        return None
    try:
        if agg == "SUM":
            if any(isinstance(v, bool) or not isinstance(v, (int, float, Decimal)) for v in present):
                raise TypeError(f"SUM needs numbers, got {present!r}")
            return sum(present)
        return min(present) if agg == "MIN" else max(present)
    except TypeError as exc:
        raise DecisionError(f"{where}: COLLECT {agg} failed: {exc}", decision_id=decision_id,
                            rules=[(m.rule_id, m.row) for m in rules]) from exc


def evaluate_table(
    table: Any,
    data: dict,
    evaluate: Evaluator,
    *,
    aggregation: str | None = None,
    output_values: dict[str, list] | None = None,
    default_outputs: dict[str, str] | None = None,
    decision_id: str | None = None,
) -> DecisionResult:
    """Evaluate a SpiffWorkflow DecisionTable against task data through the given evaluator."""
    where = _describe(decision_id, table)
    decision_id = decision_id or table.id
    policy, agg = _normalize_policy(table.hit_policy, aggregation)
    if policy not in HIT_POLICIES:
        raise DecisionError(f"{where}: unknown hit policy {table.hit_policy!r}", decision_id=decision_id)
    if agg is not None:
        if policy != "COLLECT":
            raise DecisionError(f"{where}: aggregation {agg} is only allowed with hit policy COLLECT",
                                decision_id=decision_id)
        if agg not in AGGREGATIONS:
            raise DecisionError(f"{where}: unknown aggregation {aggregation!r}", decision_id=decision_id)
        if len(table.outputs) != 1:
            raise DecisionError(f"{where}: COLLECT {agg} needs exactly one output column, "
                                f"found {len(table.outputs)}", decision_id=decision_id)

    ctx = dict(data)
    inputs: dict[str, Any] = {}
    for column, inp in enumerate(table.inputs):
        value = _evaluate_input(inp, data, evaluate, where, decision_id)
        ctx[f"{INPUT_VAR}_{column}"] = value
        inputs[_input_key(inp)] = value

    hits = _match_rules(table, ctx, evaluate, where, decision_id, first_only=policy == "FIRST")
    refs = ", ".join(_rule_ref(r) for r in hits)
    if policy == "UNIQUE" and len(hits) > 1:
        raise DecisionError(f"{where}: hit policy UNIQUE allows one matching rule, but {len(hits)} matched: {refs}",
                            decision_id=decision_id, rules=[(r.id, r.row_number) for r in hits])
    ranking = _ranking(table, output_values, where, policy, decision_id) \
        if policy in ("PRIORITY", "OUTPUT ORDER") else []
    matched = [MatchedRule(r.id, r.row_number, r.description or "",
                           _rule_outputs(table, r, data, evaluate, where, decision_id)) for r in hits]
    keys = [_output_key(o) for o in table.outputs]
    result = DecisionResult(decision_id, policy, inputs, {}, [], agg)

    if policy in SINGLE_HIT:
        if policy == "ANY" and matched:
            differing = [m for m in matched if m.outputs != matched[0].outputs]
            if differing:
                involved = [matched[0], *differing]
                raise DecisionError(
                    f"{where}: hit policy ANY needs equal outputs, but {refs} matched with different outputs: "
                    + "; ".join(f"row {m.row} gives {m.outputs!r}" for m in involved),
                    decision_id=decision_id, rules=[(m.rule_id, m.row) for m in involved])
        if policy == "PRIORITY" and matched:
            # min() is stable, so equal priorities keep rule order.
            matched = [min(matched, key=lambda m: _priority_key(m.outputs, ranking))]
        if matched:
            result.matched = matched[:1] if policy != "ANY" else matched
            result.outputs = dict(matched[0].outputs)
        else:
            result.outputs = {k: None for k in keys}
            if default_outputs:
                result.used_defaults = True
                for output in table.outputs:
                    text = default_outputs.get(_output_key(output)) or default_outputs.get(output.id)
                    try:
                        result.outputs[_output_key(output)] = _evaluate_output(text, data, evaluate)
                    except Exception as exc:
                        raise DecisionError(f"{where}: default output {_output_key(output)!r} failed: {exc}",
                                            decision_id=decision_id) from exc
        return result

    if policy == "OUTPUT ORDER":
        matched = sorted(matched, key=lambda m: _priority_key(m.outputs, ranking))
    result.matched = matched
    if agg is not None:
        key = keys[0]
        result.outputs = {key: _aggregate(agg, [m.outputs.get(key) for m in matched], where, decision_id, matched)}
    else:
        result.outputs = {k: [m.outputs.get(k) for m in matched] for k in keys}
    return result


# --------------------------------------------------------------------------- metadata and checks

def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _children(element: Any, name: str) -> list[Any]:
    return [child for child in element if _local(child.tag) == name]


def _text_of(element: Any) -> str | None:
    texts = _children(element, "text") if element is not None else []
    return texts[0].text if texts else None


def _as_root(source: Any) -> Any:
    if isinstance(source, etree._ElementTree):
        return source.getroot()
    if isinstance(source, (bytes, str)):
        data = source.encode("utf-8") if isinstance(source, str) else source
        # Uploaded DMN is untrusted: no DTDs, entities or network access.
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
        return etree.fromstring(data, parser=parser)
    return source


def decision_table_metadata(table_element: Any, decision_element: Any = None) -> dict[str, Any]:
    """Read what SpiffWorkflow's parser drops from one lxml decisionTable element."""
    if decision_element is None:
        parent = table_element.getparent()
        decision_element = parent if parent is not None and _local(parent.tag) == "decision" else None
    variable = _children(decision_element, "variable") if decision_element is not None else []
    policy, agg = _normalize_policy(table_element.get("hitPolicy"), table_element.get("aggregation"))
    output_values: dict[str, list] = {}
    default_outputs: dict[str, str] = {}
    output_type_refs: dict[str, str] = {}
    output_names: list[str] = []
    for output in _children(table_element, "output"):
        key = output.get("name") or output.get("label") or output.get("id") or ""
        output_names.append(key)
        output_type_refs[key] = output.get("typeRef") or ""
        values = _children(output, "outputValues")
        if values:
            output_values[key] = _parse_value_list(_text_of(values[0]))
        default = _children(output, "defaultOutputEntry")
        if default and _text_of(default[0]) is not None:
            default_outputs[key] = _text_of(default[0])
    input_values: dict[str, list] = {}
    input_type_refs: dict[str, str] = {}
    for inp in _children(table_element, "input"):
        expressions = _children(inp, "inputExpression")
        expression = expressions[0] if expressions else None
        key = inp.get("label") or inp.get("name") or (_text_of(expression) or "").strip() or inp.get("id") or ""
        input_type_refs[key] = expression.get("typeRef", "") if expression is not None else ""
        values = _children(inp, "inputValues")
        if values:
            input_values[key] = _parse_value_list(_text_of(values[0]))
    return {
        "table_id": table_element.get("id"),
        "decision_id": decision_element.get("id") if decision_element is not None else None,
        "decision_name": decision_element.get("name") if decision_element is not None else None,
        "variable_name": variable[0].get("name") if variable else None,
        "type_ref": table_element.get("typeRef") or (variable[0].get("typeRef") if variable else None),
        "hit_policy": policy,
        "aggregation": agg,
        "output_names": output_names,
        "output_values": output_values,
        "default_outputs": default_outputs,
        "output_type_refs": output_type_refs,
        "input_values": input_values,
        "input_type_refs": input_type_refs,
    }


def table_metadata(dmn_xml_root: Any) -> dict[str, dict[str, Any]]:
    """Per decision table id and per decision id: aggregation, outputValues, defaults and typeRefs."""
    root = _as_root(dmn_xml_root)
    if _local(root.tag) == "decisionTable":
        tables = [root]
    else:
        tables = [el for el in root.iter() if _local(el.tag) == "decisionTable"]
    result: dict[str, dict[str, Any]] = {}
    for element in tables:
        meta = decision_table_metadata(element)
        # SpiffWorkflow looks tables up by decision id (decisionRef), DMN tools by table id: offer both.
        for key in (meta["table_id"], meta["decision_id"]):
            if key:
                result[key] = meta
    return result


def check_table(table: Any, *, metadata: dict[str, Any] | None = None,
                check: Callable[[str], str | None] | None = None) -> list[str]:
    """List static problems of a decision table (entries, names, hit policy, typeRefs)."""
    problems: list[str] = []
    where = f"decision table {table.id!r}"
    policy, agg = _normalize_policy(table.hit_policy, (metadata or {}).get("aggregation"))
    if policy not in HIT_POLICIES:
        problems.append(f"{where}: unknown hit policy {table.hit_policy!r} "
                        f"(expected one of {', '.join(HIT_POLICIES)})")
    if agg is not None and policy == "COLLECT" and agg not in AGGREGATIONS:
        problems.append(f"{where}: unknown aggregation {agg!r} (expected one of {', '.join(AGGREGATIONS)})")
    elif agg is not None and policy != "COLLECT":
        problems.append(f"{where}: aggregation {agg} is only allowed with hit policy COLLECT")
    elif agg is not None and len(table.outputs) != 1:
        problems.append(f"{where}: COLLECT {agg} needs exactly one output column")
    if metadata is not None and policy in ("PRIORITY", "OUTPUT ORDER") and not any(
            metadata.get("output_values", {}).values()):
        problems.append(f"{where}: hit policy {policy} needs outputValues on at least one output")
    if not table.outputs:
        problems.append(f"{where}: has no output column")
    seen: set[str] = set()
    for output in table.outputs:
        if not output.name:
            problems.append(f"{where}: output {output.id!r} has no name")
        elif output.name in seen:
            problems.append(f"{where}: output name {output.name!r} is used twice")
        else:
            seen.add(output.name)
        if not output.typeRef:
            problems.append(f"{where}: output {_output_key(output)!r} has no typeRef")
    for inp in table.inputs:
        expr = (inp.expression or "").strip()
        if not expr:
            problems.append(f"{where}: input {_input_key(inp)!r} has no expression")
        else:
            problems.extend(_check_expr(expr, check, f"{where}: input {_input_key(inp)!r}"))
        if not inp.typeRef:
            problems.append(f"{where}: input {_input_key(inp)!r} has no typeRef")
    for rule in table.rules:
        at = f"{where}: {_rule_ref(rule)}"
        if len(rule.inputEntries) != len(table.inputs):
            problems.append(f"{at}: has {len(rule.inputEntries)} input entries for {len(table.inputs)} inputs")
        if len(rule.outputEntries) != len(table.outputs):
            problems.append(f"{at}: has {len(rule.outputEntries)} output entries for {len(table.outputs)} outputs")
        for column, entry in enumerate(rule.inputEntries):
            for text in entry.lhs:
                try:
                    expr = unary_test_to_python(text, f"{INPUT_VAR}_{column}")
                except ValueError as exc:
                    problems.append(f"{at}: {exc}")
                    continue
                if expr is not None:
                    problems.extend(_check_expr(expr, check, f"{at}: input entry {text!r}", feel=False))
        for entry in rule.outputEntries:
            if entry.text and entry.text.strip():
                problems.extend(_check_expr(entry.text, check, f"{at}: output entry {entry.text!r}", feel=True))
    return problems


def _check_expr(text: str, check: Callable[[str], str | None] | None, at: str, *, feel: bool = True) -> list[str]:
    try:
        expr = feel_to_python(text) if feel else text
    except ValueError as exc:
        return [f"{at} does not compile: {exc}"]
    problem = _valid(expr)
    if problem is None and check is not None:
        problem = check(expr)
    return [f"{at} does not compile: {problem}"] if problem else []
