"""Hostile and malformed XML is refused before SpiffWorkflow sees it."""
import pytest

from app.engine.definitions import DefinitionError, compile_process
from app.engine.xml import UnsafeXMLError, parse_xml

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
<bpmn:process id="p">&xxe;</bpmn:process></bpmn:definitions>"""
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL">
<bpmn:process id="p">&lol3;</bpmn:process></bpmn:definitions>"""
PARAM_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % ext SYSTEM "http://127.0.0.1:1/x.dtd"> %ext;]><x/>"""


@pytest.mark.parametrize("payload", [XXE, BOMB, PARAM_ENTITY])
def test_dtd_and_entities_refused(payload):
    with pytest.raises(UnsafeXMLError, match="DOCTYPE"):
        parse_xml(payload, filename="evil.bpmn")


def test_malformed_xml_has_clear_message():
    with pytest.raises(UnsafeXMLError, match="not well-formed"):
        parse_xml(b"<bpmn:definitions><unclosed>", filename="broken.bpmn")


def test_size_limit():
    with pytest.raises(UnsafeXMLError, match="exceeds the limit"):
        parse_xml(b"<a>" + b"x" * 5000 + b"</a>", max_bytes=1000)


@pytest.mark.parametrize("payload", [XXE, BOMB])
def test_compile_process_reports_hostile_xml(payload):
    with pytest.raises(DefinitionError) as info:
        compile_process("p", payload)
    assert "DOCTYPE" in str(info.value)


def test_hostile_dmn_refused():
    ok_bpmn = b"""<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d">
    <bpmn:process id="p" isExecutable="true"><bpmn:startEvent id="s"/></bpmn:process></bpmn:definitions>"""
    with pytest.raises(DefinitionError) as info:
        compile_process("p", ok_bpmn, {"evil.dmn": XXE})
    assert "evil.dmn" in str(info.value)
