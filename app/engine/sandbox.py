"""Sandboxed evaluation of process-owner scripts, conditions and DMN expressions (RestrictedPython)."""
from __future__ import annotations

import ast
import datetime as _dt
import json
import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from RestrictedPython import RestrictingNodeTransformer, compile_restricted
from RestrictedPython.Guards import (
    full_write_guard,
    guarded_iter_unpack_sequence,
    guarded_unpack_sequence,
    safe_builtins,
    safer_getattr,
)
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

MAX_SEQUENCE = 100_000
MAX_POW_EXPONENT = 1_000


class SandboxError(Exception):
    """A script or expression was refused by the sandbox or failed inside it."""


class _Policy(RestrictingNodeTransformer):
    """RestrictedPython's policy plus: no while loops, no imports, guarded ** and *."""

    def visit_While(self, node: ast.While) -> ast.AST:
        # Unbounded loops would let one script block a worker forever.
        self.error(node, "while loops are not allowed in process scripts")
        return node

    def visit_Import(self, node: ast.Import) -> ast.AST:
        self.error(node, "import is not allowed in process scripts")
        return node

    def visit_ImportFrom(self, node: ast.ImportFrom) -> ast.AST:
        self.error(node, "import is not allowed in process scripts")
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        node = self.node_contents_visit(node)
        guard = {ast.Pow: "_pow_", ast.Mult: "_mul_"}.get(type(node.op))
        if guard is None:
            return node
        call = ast.Call(func=ast.Name(id=guard, ctx=ast.Load()), args=[node.left, node.right], keywords=[])
        ast.copy_location(call, node)
        ast.fix_missing_locations(call)
        return call


def _pow(a: Any, b: Any) -> Any:
    if isinstance(b, (int, float)) and abs(b) > MAX_POW_EXPONENT:
        raise SandboxError(f"exponent {b} is too large")
    return a**b


def _mul(a: Any, b: Any) -> Any:
    # Refuse sequence repetition that would allocate huge strings or lists.
    for seq, n in ((a, b), (b, a)):
        if isinstance(seq, (str, bytes, list, tuple)) and isinstance(n, int):
            if len(seq) * max(n, 0) > MAX_SEQUENCE:
                raise SandboxError("sequence repetition is too large")
    return a * b


def _range(*args: int) -> range:
    r = range(*args)
    if len(r) > MAX_SEQUENCE:
        raise SandboxError(f"range of {len(r)} items is too large")
    return r


def _inplacevar(op: str, x: Any, y: Any) -> Any:
    ops = {
        "+=": lambda a, b: a + b,
        "-=": lambda a, b: a - b,
        "*=": _mul,
        "/=": lambda a, b: a / b,
        "//=": lambda a, b: a // b,
        "%=": lambda a, b: a % b,
        "**=": _pow,
        "|=": lambda a, b: a | b,
        "&=": lambda a, b: a & b,
    }
    if op not in ops:
        raise SandboxError(f"operator {op} is not allowed")
    return ops[op](x, y)


def _getitem(obj: Any, key: Any) -> Any:
    return obj[key]


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat()


def _builtins() -> dict[str, Any]:
    allowed = dict(safe_builtins)
    allowed.update(
        {
            "dict": dict,
            "list": list,
            "set": set,
            "frozenset": frozenset,
            "sum": sum,
            "min": min,
            "max": max,
            "any": any,
            "all": all,
            "enumerate": enumerate,
            "sorted": sorted,
            "reversed": reversed,
            "zip": zip,
            "map": map,
            "filter": filter,
            "range": _range,
        }
    )
    # safe_builtins carries helpers we do not want scripts to see.
    for name in ("setattr", "delattr", "__build_class__", "_getattr_"):
        allowed.pop(name, None)
    return allowed


_GLOBALS: dict[str, Any] = {
    "__builtins__": _builtins(),
    "__name__": "process_script",
    "__metaclass__": type,
    "_getattr_": safer_getattr,
    "_getitem_": _getitem,
    "_getiter_": iter,
    "_write_": full_write_guard,
    "_inplacevar_": _inplacevar,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_pow_": _pow,
    "_mul_": _mul,
    "math": math,
    "now": _now,
}
_GUARD_NAMES = frozenset(_GLOBALS)


@lru_cache(maxsize=4096)
def _compile(source: str, mode: str) -> Any:
    try:
        return compile_restricted(source, filename="<process script>", mode=mode, policy=_Policy)
    except SyntaxError as exc:
        # RestrictedPython reports every violation as one argument of the SyntaxError.
        raise SandboxError("; ".join(str(a) for a in exc.args) or "syntax error") from None


def check(source: str, mode: str = "exec") -> str | None:
    """Return why the sandbox refuses this source, or None when it compiles."""
    try:
        _compile(source, mode)
    except SandboxError as exc:
        return str(exc)
    return None


def evaluate(expression: str, context: dict[str, Any], external: dict[str, Any] | None = None) -> Any:
    """Evaluate an expression over a data context in the sandbox."""
    code = _compile(expression.strip(), "eval")
    scope = dict(_GLOBALS)
    if external:
        scope.update(external)
    scope.update(context)
    try:
        return eval(code, scope)  # noqa: S307 - code object produced by RestrictedPython
    except SandboxError:
        raise
    except Exception as exc:
        raise SandboxError(f"{type(exc).__name__}: {exc} in expression {expression!r}") from exc


def execute(script: str, context: dict[str, Any], external: dict[str, Any] | None = None) -> None:
    """Run a script whose top-level assignments update the data context."""
    code = _compile(script, "exec")
    scope = dict(_GLOBALS)
    if external:
        scope.update(external)
    scope.update(context)
    try:
        exec(code, scope)  # noqa: S102 - code object produced by RestrictedPython
    except SandboxError:
        raise
    except Exception as exc:
        raise SandboxError(f"{type(exc).__name__}: {exc} in script") from exc
    hidden = _GUARD_NAMES | set(external or ())
    for key in list(context):
        if key not in scope:
            del context[key]
    for key, value in scope.items():
        if key in hidden or key.startswith("_") or callable(value) or isinstance(value, type(math)):
            continue
        context[key] = value


Connectors = dict[str, Callable[[dict[str, Any]], Any]]


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """SpiffWorkflow script environment that runs everything through the sandbox."""

    def __init__(self, connectors: Connectors | None = None):
        super().__init__({})
        self.connectors = connectors or {}

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        return evaluate(expression, context, external_context)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        execute(script, context, external_context)
        return True

    def call_service(self, context: dict, operation_name: str = "", operation_params: dict | None = None,
                     **kwargs: Any) -> str:
        """Service tasks call connectors the application provides (data access stays out of scripts)."""
        connector = self.connectors.get(operation_name)
        if connector is None:
            raise SandboxError(f"no connector {operation_name!r} (available: {', '.join(sorted(self.connectors))})")
        params = {name: p.get("value") for name, p in (operation_params or {}).items()}
        return json.dumps(connector(params), default=str)


class SandboxScriptEngine(PythonScriptEngine):
    """Script engine bound to the sandbox; collects DMN evaluations made during one run."""

    def __init__(self, connectors: Connectors | None = None) -> None:
        super().__init__(environment=SandboxEnvironment(connectors))
        self.decision_log: list[dict] = []

    def validate(self, expression: str) -> None:
        reason = check(expression, "eval")
        if reason is not None:
            raise SyntaxError(reason)

