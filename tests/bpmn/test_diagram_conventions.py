"""Conventions every diagram in bpmn/ keeps: ids, lanes, Chinese documentation, English names, complete BPMN DI."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from lxml import etree

ROOT = Path(__file__).resolve().parents[2]
NS = {
    "bpmn": "http://www.omg.org/spec/BPMN/20100524/MODEL",
    "bpmndi": "http://www.omg.org/spec/BPMN/20100524/DI",
    "dc": "http://www.omg.org/spec/DD/20100524/DC",
    "di": "http://www.omg.org/spec/DD/20100524/DI",
    "spiffworkflow": "http://spiffworkflow.org/bpmn/schema/1.0/core",
}
NODE_TAGS = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
             "task", "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask",
             "receiveTask", "callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
             "inclusiveGateway", "eventBasedGateway"}
DIAGRAMS = sorted((ROOT / "bpmn").glob("*.bpmn"))
CJK = re.compile(r"[\u4e00-\u9fff]")


def _load(path: Path):
    root = etree.parse(str(path)).getroot()
    process = root.find("bpmn:process", NS)
    nodes = {el.get("id"): el for el in process.iter() if etree.QName(el).localname in NODE_TAGS}
    flows = {el.get("id"): el for el in process.iter(f"{{{NS['bpmn']}}}sequenceFlow")}
    return root, process, nodes, flows


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_ids_lanes_and_documentation(path):
    _, process, nodes, flows = _load(path)
    assert process.get("isExecutable") == "true"
    assert CJK.search(process.get("name") or ""), "process name is the spec's Chinese name"
    lane_of: dict[str, list[str]] = {}
    for lane in process.iterfind(".//bpmn:lane", NS):
        assert CJK.search(lane.get("name") or ""), f"lane {lane.get('id')} needs the Chinese role name"
        for ref in lane.iterfind("bpmn:flowNodeRef", NS):
            lane_of.setdefault(ref.text.strip(), []).append(lane.get("id"))
    for node_id, el in nodes.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", node_id), f"{node_id}: ids are English snake_case"
        assert len(lane_of.get(node_id, [])) == 1, f"{node_id}: in exactly one lane"
        doc = el.find("bpmn:documentation", NS)
        assert doc is not None and CJK.search(doc.text or ""), f"{node_id}: documentation quotes the spec"
        tag = etree.QName(el).localname
        if tag.endswith("Task") or tag in {"startEvent", "endEvent"}:
            assert CJK.search(el.get("name") or ""), f"{node_id}: the step's Chinese name"
    for flow_id in flows:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", flow_id), flow_id


def _property(el, name: str) -> str | None:
    found = el.find(f"bpmn:extensionElements/spiffworkflow:properties/spiffworkflow:property[@name='{name}']", NS)
    return found.get("value") if found is not None else None


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_every_named_step_and_the_process_have_an_english_name(path):
    """The UI speaks English on request: every name a page can show has its English beside it (name.en)."""
    _, process, nodes, _ = _load(path)
    missing = [el_id for el_id, el in [(process.get("id"), process), *nodes.items()]
               if el.get("name") and not (_property(el, "name.en") or "").strip()]
    assert not missing, f"no English name (spiffworkflow property name.en): {missing}"
    for el_id, el in [(process.get("id"), process), *nodes.items()]:
        english = _property(el, "name.en")
        if english is not None:
            assert not CJK.search(english), f"{el_id}: name.en is not English: {english!r}"
            assert english == english.strip() and not english.endswith("."), f"{el_id}: {english!r}"
        form = _property(el, "formJsonSchemaFilename")
        if form and english:  # a form's title is its step's name, in both languages
            schema = json.loads((ROOT / "forms" / process.get("id") / form).read_text(encoding="utf-8"))
            assert schema["x-translations"]["en"]["title"] == english, f"{el_id}: form title {form}"


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_every_user_task_and_the_process_have_their_documentation_in_english(path):
    """The task page shows a step's documentation (the spec's words); in English mode, its documentation.en."""
    _, process, nodes, _ = _load(path)
    owners = [(process.get("id"), process)] + [
        (el_id, el) for el_id, el in nodes.items() if etree.QName(el).localname == "userTask"]
    missing = [el_id for el_id, el in owners if el.find("bpmn:documentation", NS) is not None
               and not (_property(el, "documentation.en") or "").strip()]
    assert not missing, f"no English documentation (spiffworkflow property documentation.en): {missing}"
    for el_id, el in owners:
        english = _property(el, "documentation.en") or ""
        assert not CJK.search(english), f"{el_id}: documentation.en is not English: {english[:80]!r}"


@pytest.mark.parametrize("path", DIAGRAMS, ids=lambda p: p.name)
def test_diagram_interchange_is_complete(path):
    """Shapes for every node and lane and edges for every flow, so bpmn.io and Camunda Modeler draw it."""
    root, process, nodes, flows = _load(path)
    plane = root.find("bpmndi:BPMNDiagram/bpmndi:BPMNPlane", NS)
    assert plane is not None
    shapes = {s.get("bpmnElement"): s for s in plane.iterfind("bpmndi:BPMNShape", NS)}
    edges = {e.get("bpmnElement"): e for e in plane.iterfind("bpmndi:BPMNEdge", NS)}
    lanes = [lane.get("id") for lane in process.iterfind(".//bpmn:lane", NS)]
    for element_id in [*nodes, *lanes]:
        assert element_id in shapes and shapes[element_id].find("dc:Bounds", NS) is not None, element_id

    def box(i: str) -> tuple[float, ...]:
        b = shapes[i].find("dc:Bounds", NS)
        return tuple(float(b.get(k)) for k in ("x", "y", "width", "height"))

    for flow_id, flow in flows.items():
        assert flow_id in edges, f"{flow_id}: BPMNEdge missing"
        points = [(float(p.get("x")), float(p.get("y"))) for p in edges[flow_id].iterfind("di:waypoint", NS)]
        assert len(points) >= 2
        for (px, py), ref in ((points[0], flow.get("sourceRef")), (points[-1], flow.get("targetRef"))):
            x, y, w, h = box(ref)
            assert x - 1 <= px <= x + w + 1 and y - 1 <= py <= y + h + 1, f"{flow_id}: waypoint off {ref}"
    node_ids = list(nodes)
    for i, a in enumerate(node_ids):
        ax, ay, aw, ah = box(a)
        for b in node_ids[i + 1:]:
            bx, by, bw, bh = box(b)
            assert not (ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah), f"{a} overlaps {b}"
