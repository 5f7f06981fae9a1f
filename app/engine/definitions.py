"""Parse and validate BPMN/DMN bundles into cached, runnable process definitions."""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from lxml import etree
from SpiffWorkflow.bpmn.parser.ValidationException import ValidationException
from SpiffWorkflow.exceptions import SpiffWorkflowException
from SpiffWorkflow.spiff.parser.process import VALIDATOR, SpiffBpmnParser

from . import dmn as dmn_layer
from . import sandbox
from .xml import DEFAULT_MAX_BYTES, UnsafeXMLError, parse_xml

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
NS = {"bpmn": BPMN_NS, "spiffworkflow": SPIFF_NS}
FORM_PROPERTY = "formJsonSchemaFilename"
GROUP_VARIABLE_PROPERTY = "candidateGroupVariable"
# An element's or a process's name in another language: a spiffworkflow property "name.<language>" beside the
# name, so the translation travels with the diagram's version and the modeler edits both together.
NAME_PROPERTY_PREFIX = "name."
# An element's (or process's) documentation in another language: "documentation.<language>".
DOC_PROPERTY_PREFIX = "documentation."
_TRANSLATED = {NAME_PROPERTY_PREFIX: "name", DOC_PROPERTY_PREFIX: "documentation"}
# Lanes that do not name a group: the requester lane assigns to the person who raised the instance.
SPECIAL_LANES = {"requester"}
FLOW_NODE_TAGS = {
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask",
    "receiveTask", "callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
    "inclusiveGateway", "eventBasedGateway",
}


@dataclass
class DefinitionIssue:
    """One problem found in a definition, tied to a file and an element where possible."""

    message: str
    element_id: str | None = None
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "element_id": self.element_id, "file": self.file}


class DefinitionError(Exception):
    """The bundle does not parse or does not pass validation; carries every issue found."""

    def __init__(self, issues: list[DefinitionIssue]):
        self.issues = issues
        super().__init__("; ".join(
            (f"[{i.element_id}] " if i.element_id else "") + i.message for i in issues
        ))


@dataclass
class UserTaskMeta:
    """What the application needs to know about a user task without touching SpiffWorkflow."""

    spec_id: str
    name: str
    lane_id: str | None
    lane_name: str | None
    form_file: str | None
    group_variable: str | None
    properties: dict[str, str]
    documentation: str


@dataclass
class CompiledProcess:
    """A parsed, validated process version: spec objects plus metadata for the application."""

    process_id: str
    name: str
    spec: Any
    subprocess_specs: dict
    user_tasks: dict[str, UserTaskMeta]
    start_form: str | None
    flows: dict[tuple[str, str], str]
    elements: dict[str, dict[str, str]]
    forms: dict[str, dict]
    decisions: list[str]
    message_start: str | None = None
    # language -> element or process id -> name in that language (from "name.<language>" properties)
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    # language -> element or process id -> documentation in that language ("documentation.<language>")
    docs: dict[str, dict[str, str]] = field(default_factory=dict)
    serializer: Any = field(default=None, repr=False)


@dataclass
class BpmnInfo:
    """A static reading of one BPMN document, used to bundle and validate it."""

    process_ids: list[str]
    process_names: dict[str, str]
    elements: dict[str, dict[str, str]]
    node_lane: dict[str, str]
    lanes: dict[str, str]
    flows: list[dict[str, Any]]
    form_files: dict[str, str]
    decision_refs: dict[str, str]
    called_processes: dict[str, str]
    properties: dict[str, dict[str, str]]
    scripts: dict[str, str] = field(default_factory=dict)
    # element id -> message name for message events (start, catch, throw, end)
    message_events: dict[str, str] = field(default_factory=dict)
    # process id -> its spiffworkflow properties (e.g. its name in another language)
    process_properties: dict[str, dict[str, str]] = field(default_factory=dict)


def _local(tag: Any) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def _properties(el: etree._Element) -> dict[str, str]:
    return {p.get("name"): p.get("value") or ""
            for p in el.iterfind("bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property", NS)}


def read_bpmn(root: etree._Element) -> BpmnInfo:
    """Read ids, names, lanes, flows and extension properties out of a parsed BPMN document."""
    process_ids, process_names = [], {}
    elements: dict[str, dict[str, str]] = {}
    node_lane: dict[str, str] = {}
    lanes: dict[str, str] = {}
    flows: list[dict[str, Any]] = []
    form_files: dict[str, str] = {}
    decision_refs: dict[str, str] = {}
    called: dict[str, str] = {}
    properties: dict[str, dict[str, str]] = {}
    scripts: dict[str, str] = {}
    message_names = {m.get("id"): m.get("name") or m.get("id") for m in root.iterfind("bpmn:message", NS)}
    message_events: dict[str, str] = {}
    process_properties: dict[str, dict[str, str]] = {}
    for process in root.iterfind("bpmn:process", NS):
        pid = process.get("id")
        process_ids.append(pid)
        process_names[pid] = process.get("name") or pid
        process_properties[pid] = _properties(process)
        for lane in process.iterfind(".//bpmn:lane", NS):
            lanes[lane.get("id")] = lane.get("name") or lane.get("id")
            for ref in lane.iterfind("bpmn:flowNodeRef", NS):
                node_lane[(ref.text or "").strip()] = lane.get("id")
        for el in process.iter():
            tag = _local(el.tag)
            if tag in FLOW_NODE_TAGS:
                doc = el.find("bpmn:documentation", NS)
                elements[el.get("id")] = {
                    "type": tag,
                    "name": el.get("name") or "",
                    "documentation": (doc.text or "").strip() if doc is not None else "",
                    "default": el.get("default") or "",
                    "process": pid,
                }
                props = _properties(el)
                properties[el.get("id")] = props
                if FORM_PROPERTY in props:
                    form_files[el.get("id")] = props[FORM_PROPERTY]
                ref = el.find("bpmn:extensionElements/spiffworkflow:calledDecisionId", NS)
                if tag == "businessRuleTask":
                    decision_refs[el.get("id")] = (ref.text or "").strip() if ref is not None else ""
                if tag == "callActivity":
                    called[el.get("id")] = el.get("calledElement") or ""
                msg = el.find("bpmn:messageEventDefinition", NS)
                if msg is not None and msg.get("messageRef"):
                    message_events[el.get("id")] = message_names.get(msg.get("messageRef"), msg.get("messageRef"))
                script = el.find("bpmn:script", NS)
                if script is not None and (script.text or "").strip():
                    scripts[el.get("id")] = script.text
                for kind in ("preScript", "postScript"):
                    extra = el.find(f"bpmn:extensionElements/spiffworkflow:{kind}", NS)
                    if extra is not None and (extra.text or "").strip():
                        scripts[f"{el.get('id')}"] = extra.text
            elif tag == "sequenceFlow":
                cond = el.find("bpmn:conditionExpression", NS)
                flows.append({
                    "id": el.get("id"),
                    "source": el.get("sourceRef"),
                    "target": el.get("targetRef"),
                    "condition": (cond.text or "").strip() if cond is not None else None,
                    "process": pid,
                })
    return BpmnInfo(process_ids, process_names, elements, node_lane, lanes, flows, form_files,
                    decision_refs, called, properties, scripts, message_events, process_properties)


def lane_group(lane_id: str | None) -> str | None:
    """The group a lane maps to: its id, or its id without a `lane_` prefix (needed where a group code
    equals the process id, since ids are unique in a BPMN document)."""
    if lane_id is None:
        return None
    return lane_id[5:] if lane_id.startswith("lane_") else lane_id


def form_key(process_id: str, filename: str) -> str:
    """Forms are keyed by process and file name: forms/<process_id>/<file>, so called processes never clash."""
    return f"{process_id}/{filename}"


def read_dmn_ids(data: bytes, filename: str = "", max_bytes: int = DEFAULT_MAX_BYTES) -> list[str]:
    """List the decision ids a DMN document defines."""
    root = parse_xml(data, filename=filename, max_bytes=max_bytes)
    return [el.get("id") for el in root.iter() if _local(el.tag) == "decision"]


class _DecisionEngine:
    """Stands where SpiffWorkflow's DMNEngine stands; evaluates with our DMN layer and logs the result."""

    def __init__(self, decision_id: str, table: Any, meta: dict[str, Any]):
        self.decision_id = decision_id
        self.decision_table = table
        self.meta = meta

    def result(self, task: Any) -> dict:
        outcome = evaluate_decision(self, task.data)
        log = getattr(task.workflow.script_engine, "decision_log", None)
        if log is not None:
            entry = outcome.to_event()
            entry["decision_id"] = self.decision_id
            entry["task_spec"] = task.task_spec.bpmn_id
            entry["task_guid"] = str(task.id)
            log.append(entry)
        outputs = outcome.outputs
        return dict(outputs) if isinstance(outputs, dict) else {}


class _Parser(SpiffBpmnParser):
    """SpiffBpmnParser whose business rule tasks evaluate through our DMN layer."""

    def __init__(self, dmn_meta: dict[str, dict]):
        super().__init__(validator=VALIDATOR)
        self._dmn_meta = dmn_meta

    def get_engine(self, decision_ref: str, node: Any) -> _DecisionEngine:
        if decision_ref not in self.dmn_parsers:
            raise ValidationException(
                f'No decision with id "{decision_ref}"; available: {", ".join(sorted(self.dmn_parsers))}',
                node=node,
            )
        parser = self.dmn_parsers[decision_ref]
        parser.parse()
        table = parser.decision.decisionTables[0]
        return _DecisionEngine(decision_ref, table, self._dmn_meta.get(decision_ref, {}))


def _spiff_issue(exc: Exception, file: str) -> DefinitionIssue:
    element = getattr(exc, "id", None) or getattr(exc, "task_spec", None)
    if element is not None and not isinstance(element, str):
        element = getattr(element, "bpmn_id", None) or getattr(element, "name", None)
    message = str(exc)
    notes = getattr(exc, "__notes__", None)
    if notes:
        message += " (" + "; ".join(notes) + ")"
    return DefinitionIssue(message, element, getattr(exc, "file_name", None) or file)


def validate_form_schema(name: str, data: bytes) -> tuple[dict | None, list[DefinitionIssue]]:
    """Load a JSON Schema form file and check it is a valid schema."""
    try:
        schema = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, [DefinitionIssue(f"form {name} is not valid JSON: {exc}", file=name)]
    if not isinstance(schema, dict):
        return None, [DefinitionIssue(f"form {name} must be a JSON object", file=name)]
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return None, [DefinitionIssue(f"form {name} is not a valid JSON Schema: {exc.message}", file=name)]
    if schema.get("type", "object") != "object":
        return None, [DefinitionIssue(f"form {name} must describe an object", file=name)]
    problems = [DefinitionIssue(f"form {name}: {p}", file=name) for p in translation_problems(schema)]
    return (None, problems) if problems else (schema, [])


# A form's texts in other languages, beside the text they translate (services.forms.localized shows them).
TRANSLATIONS = "x-translations"
TRANSLATED = ("title", "description")
_LANGUAGE = re.compile(r"^[a-z]{2,3}(_[A-Za-z]{2,4})*$")


def translation_problems(node: Any, path: str = "") -> list[str]:
    """Where a form's "x-translations" is not {language: {"title"/"description": text}}."""
    problems: list[str] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            problems += translation_problems(item, f"{path}/{i}")
        return problems
    if not isinstance(node, dict):
        return problems
    for key, value in node.items():
        if key != TRANSLATIONS:
            problems += translation_problems(value, f"{path}/{key}")
            continue
        where = f"{path or '/'}: {TRANSLATIONS}"
        if not isinstance(value, dict):
            problems.append(f"{where} must be an object of languages")
            continue
        for language, texts in value.items():
            if not _LANGUAGE.match(language):
                problems.append(f"{where}: {language!r} is not a language code such as 'en' or 'zh_CN'")
            elif not isinstance(texts, dict) or not texts:
                problems.append(f"{where}.{language} must be an object with a title and/or a description")
            else:
                problems += [f"{where}.{language}.{k}: only title and description are translated, as text"
                             for k, text in texts.items()
                             if k not in TRANSLATED or not isinstance(text, str) or not text.strip()]
    return problems


def compile_process(
    process_id: str,
    bpmn: bytes,
    dmn_files: dict[str, bytes] | None = None,
    form_files: dict[str, bytes] | None = None,
    *,
    bpmn_name: str = "",
    known_groups: set[str] | None = None,
    extra_bpmn: dict[str, bytes] | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> CompiledProcess:
    """Parse, validate and build one process; raise DefinitionError listing every problem.

    `form_files` are keyed "<process_id>/<file>" (their path under forms/); `extra_bpmn` holds the
    documents of processes this one calls.
    """
    dmn_files = dmn_files or {}
    form_files = form_files or {}
    issues: list[DefinitionIssue] = []
    bpmn_name = bpmn_name or f"{process_id}.bpmn"
    try:
        root = parse_xml(bpmn, filename=bpmn_name, max_bytes=max_bytes)
        dmn_roots = {name: parse_xml(data, filename=name, max_bytes=max_bytes) for name, data in dmn_files.items()}
        extra_roots = {name: parse_xml(data, filename=name, max_bytes=max_bytes)
                       for name, data in (extra_bpmn or {}).items()}
    except UnsafeXMLError as exc:
        raise DefinitionError([DefinitionIssue(str(exc))]) from None

    info = read_bpmn(root)
    # Called processes (call activities) contribute their user tasks, flows and forms to this version.
    for extra_root in extra_roots.values():
        _merge(info, read_bpmn(extra_root))
    if process_id not in info.process_ids:
        raise DefinitionError([DefinitionIssue(
            f"{bpmn_name} defines no process with id {process_id!r} (found: {', '.join(info.process_ids) or 'none'})",
            file=bpmn_name)])

    dmn_meta: dict[str, dict] = {}
    for name, droot in dmn_roots.items():
        try:
            dmn_meta.update(dmn_layer.table_metadata(droot))
        except Exception as exc:  # a broken table is reported, not raised
            issues.append(DefinitionIssue(f"{name}: {exc}", file=name))

    parser = _Parser(dmn_meta)
    spec = None
    subprocess_specs: dict = {}
    try:
        parser.add_bpmn_xml(root, filename=bpmn_name)
        for name, extra in extra_roots.items():
            parser.add_bpmn_xml(extra, filename=name)
        for name, droot in dmn_roots.items():
            parser.add_dmn_xml(droot, filename=name)
        spec = parser.get_spec(process_id)
        subprocess_specs = parser.get_subprocess_specs(process_id)
    except (ValidationException, SpiffWorkflowException) as exc:
        issues.append(_spiff_issue(exc, bpmn_name))
    except etree.DocumentInvalid as exc:
        issues.append(DefinitionIssue(f"schema validation failed: {exc}", file=bpmn_name))
    except Exception as exc:  # SpiffWorkflow raises assorted errors on malformed models
        issues.append(DefinitionIssue(f"{type(exc).__name__}: {exc}", file=bpmn_name))

    for decision_id, dparser in parser.dmn_parsers.items():
        try:
            dparser.parse()
            table = dparser.decision.decisionTables[0]
            meta = dmn_meta.get(decision_id) or dmn_meta.get(table.id)
            for problem in dmn_layer.check_table(table, metadata=meta, check=sandbox.check):
                issues.append(DefinitionIssue(problem, decision_id, dparser.filename))
        except Exception as exc:
            issues.append(DefinitionIssue(f"decision {decision_id}: {exc}", decision_id))

    forms: dict[str, dict] = {}
    for name, data in form_files.items():
        schema, problems = validate_form_schema(name, data)
        issues.extend(problems)
        if schema is not None:
            forms[name] = schema

    issues.extend(_check_model(info, process_id, forms, set(parser.dmn_parsers), known_groups))
    if issues:
        raise DefinitionError(issues)

    flows = {}
    for flow in info.flows:
        flows[(flow["source"], flow["target"])] = flow["id"]
    user_tasks = {}
    for el_id, el in info.elements.items():
        if el["type"] == "userTask":
            raw_lane = info.node_lane.get(el_id)
            props = info.properties.get(el_id, {})
            user_tasks[el_id] = UserTaskMeta(
                spec_id=el_id,
                name=el["name"] or el_id,
                lane_id=lane_group(raw_lane),
                lane_name=info.lanes.get(raw_lane) if raw_lane else None,
                form_file=form_key(el["process"], props[FORM_PROPERTY]) if props.get(FORM_PROPERTY) else None,
                group_variable=props.get(GROUP_VARIABLE_PROPERTY),
                properties=props,
                documentation=el["documentation"],
            )
    start_form = next(
        (form_key(process_id, info.form_files[e]) for e, el in info.elements.items()
         if el["type"] == "startEvent" and el["process"] == process_id and e in info.form_files),
        None,
    )
    elements = {k: {**v, "lane": info.node_lane.get(k, "")} for k, v in info.elements.items()}
    message_start = next(
        (info.message_events[e] for e, el in info.elements.items()
         if el["type"] == "startEvent" and el["process"] == process_id and e in info.message_events),
        None,
    )
    return CompiledProcess(
        process_id=process_id,
        name=info.process_names.get(process_id, process_id),
        names=translated_names(info),
        docs=translated_names(info, DOC_PROPERTY_PREFIX),
        spec=spec,
        subprocess_specs=subprocess_specs,
        user_tasks=user_tasks,
        start_form=start_form,
        flows=flows,
        elements=elements,
        forms=forms,
        decisions=sorted(set(info.decision_refs.values())),
        message_start=message_start,
    )


def _merge(info: BpmnInfo, other: BpmnInfo) -> None:
    """Fold a called process's reading into the caller's."""
    info.process_ids += [p for p in other.process_ids if p not in info.process_ids]
    info.process_names.update(other.process_names)
    info.elements.update(other.elements)
    info.node_lane.update(other.node_lane)
    info.lanes.update(other.lanes)
    info.flows += other.flows
    info.form_files.update(other.form_files)
    info.decision_refs.update(other.decision_refs)
    info.called_processes.update(other.called_processes)
    info.properties.update(other.properties)
    info.scripts.update(other.scripts)
    info.message_events.update(other.message_events)
    info.process_properties.update(other.process_properties)


def _check_model(
    info: BpmnInfo,
    process_id: str,
    forms: dict[str, dict],
    decisions: set[str],
    known_groups: set[str] | None,
) -> list[DefinitionIssue]:
    """Our checks on top of SpiffWorkflow's: lanes, forms, decisions, gateways, expressions, flows."""
    issues: list[DefinitionIssue] = _name_problems(info)
    ids = set(info.elements)
    seen_pairs: set[tuple[str, str]] = set()
    outgoing: dict[str, list[dict]] = {}
    incoming: dict[str, int] = {}
    for flow in info.flows:
        if flow["source"] not in ids or flow["target"] not in ids:
            issues.append(DefinitionIssue("sequence flow is dangling (source or target missing)", flow["id"]))
            continue
        pair = (flow["source"], flow["target"])
        if pair in seen_pairs:
            issues.append(DefinitionIssue("two sequence flows connect the same pair of elements", flow["id"]))
        seen_pairs.add(pair)
        outgoing.setdefault(flow["source"], []).append(flow)
        incoming[flow["target"]] = incoming.get(flow["target"], 0) + 1
        if flow["condition"]:
            reason = sandbox.check(flow["condition"], "eval")
            if reason:
                issues.append(DefinitionIssue(f"condition does not compile: {reason}", flow["id"]))
    for el_id, source in info.scripts.items():
        issue = check_script(source, el_id)
        if issue:
            issues.append(issue)
    for el_id, el in info.elements.items():
        kind = el["type"]
        if kind not in {"startEvent", "boundaryEvent"} and incoming.get(el_id, 0) == 0:
            issues.append(DefinitionIssue(f"{kind} has no incoming sequence flow", el_id))
        if kind not in {"endEvent"} and not outgoing.get(el_id):
            issues.append(DefinitionIssue(f"{kind} has no outgoing sequence flow", el_id))
        if kind == "userTask":
            lane_id = lane_group(info.node_lane.get(el_id))
            props = info.properties.get(el_id, {})
            if not lane_id:
                issues.append(DefinitionIssue("user task is not in a lane", el_id))
            elif (
                known_groups is not None
                and lane_id not in known_groups
                and lane_id not in SPECIAL_LANES
                and GROUP_VARIABLE_PROPERTY not in props
            ):
                issues.append(DefinitionIssue(f"lane {lane_id!r} does not map to an existing group", el_id))
            form = props.get(FORM_PROPERTY)
            if not form:
                issues.append(DefinitionIssue("user task names no form (formJsonSchemaFilename)", el_id))
            elif form_key(el["process"], form) not in forms:
                issues.append(DefinitionIssue(f"form file {form!r} does not exist or is invalid", el_id))
        if kind == "startEvent" and info.properties.get(el_id, {}).get(FORM_PROPERTY):
            form = info.properties[el_id][FORM_PROPERTY]
            if form_key(el["process"], form) not in forms:
                issues.append(DefinitionIssue(f"form file {form!r} does not exist or is invalid", el_id))
        if kind == "businessRuleTask":
            ref = info.decision_refs.get(el_id)
            if not ref:
                issues.append(DefinitionIssue("business rule task names no decision", el_id))
            elif ref not in decisions:
                issues.append(DefinitionIssue(f"decision {ref!r} does not exist", el_id))
        if kind in {"exclusiveGateway", "inclusiveGateway"} and len(outgoing.get(el_id, [])) > 1:
            default = el["default"]
            for flow in outgoing[el_id]:
                if flow["id"] != default and not flow["condition"]:
                    issues.append(DefinitionIssue(
                        "outgoing flow of a gateway has neither a condition nor is the default", flow["id"]))
    return issues


def translated_names(info: BpmnInfo, prefix: str = NAME_PROPERTY_PREFIX) -> dict[str, dict[str, str]]:
    """Texts in other languages by language, for elements and processes ("name.<language>" properties, or
    "documentation.<language>" with that prefix)."""
    names: dict[str, dict[str, str]] = {}
    for owner, props in [*info.process_properties.items(), *info.properties.items()]:
        for key, text in props.items():
            if key.startswith(prefix) and text.strip():
                names.setdefault(key[len(prefix):], {})[owner] = text.strip()
    return names


def _name_problems(info: BpmnInfo) -> list[DefinitionIssue]:
    """A "name.<language>" or "documentation.<language>" property must name a language code and carry text."""
    issues = []
    for owner, props in [*info.process_properties.items(), *info.properties.items()]:
        for key, text in props.items():
            prefix = next((p for p in _TRANSLATED if key.startswith(p)), None)
            if prefix is None:
                continue
            language = key[len(prefix):]
            if not _LANGUAGE.match(language):
                issues.append(DefinitionIssue(
                    f"property {key!r}: {language!r} is not a language code such as 'en' or 'zh_CN'", owner))
            elif not text.strip():
                issues.append(DefinitionIssue(
                    f"property {key!r} is empty: give the {_TRANSLATED[prefix]} in that language", owner))
    return issues


def check_script(source: str, element_id: str) -> DefinitionIssue | None:
    """Compile a script in the sandbox, returning an issue for the element if it is refused."""
    reason = sandbox.check(source, "exec")
    return DefinitionIssue(f"script does not compile: {reason}", element_id) if reason else None


def load_decision(dmn: bytes, filename: str = "", max_bytes: int = DEFAULT_MAX_BYTES) -> _DecisionEngine:
    """Parse one DMN document into the evaluator business rule tasks use."""
    try:
        root = parse_xml(dmn, filename=filename, max_bytes=max_bytes)
        parser = _Parser(dmn_layer.table_metadata(root))
        parser.add_dmn_xml(root, filename=filename)
        (decision_id,) = list(parser.dmn_parsers)
        return parser.get_engine(decision_id, root)
    except (UnsafeXMLError, ValidationException, ValueError) as exc:
        raise DefinitionError([DefinitionIssue(str(exc), file=filename)]) from None


def evaluate_decision(engine: _DecisionEngine, data: dict[str, Any]) -> dmn_layer.DecisionResult:
    """Evaluate a loaded decision on data with the sandbox, exactly as a business rule task would."""
    return dmn_layer.evaluate_table(
        engine.decision_table, data, sandbox.evaluate,
        aggregation=engine.meta.get("aggregation"), output_values=engine.meta.get("output_values"),
        default_outputs=engine.meta.get("default_outputs"), decision_id=engine.decision_id,
    )
