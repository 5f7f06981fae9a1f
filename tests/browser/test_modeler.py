"""The editors in Chromium: rename and deploy, a broken save marked on the diagram, DMN try-it, 403s."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_incident_lifecycle import login

pytestmark = pytest.mark.browser


def _open_editor(page: Page, process_id: str = "incident") -> int:
    page.goto(f"/modeler/{process_id}")
    expect(page.locator('#canvas g.djs-element[data-element-id="close_incident"]')).to_be_visible()
    return int(page.locator("#current-version").inner_text())


def _select(page: Page, element_id: str) -> None:
    page.locator(f'#canvas g.djs-element[data-element-id="{element_id}"] .djs-hit').first.click()
    expect(page.locator("#sel-id")).to_have_text(element_id)


def _select_in_modeler(page: Page, element_id: str) -> None:
    """Select through bpmn-js itself, for elements whose hit area the palette may cover (a pool's edge)."""
    page.evaluate("""(id) => { const m = window.bpmnModeler;
        m.get('selection').select(m.get('elementRegistry').get(id)); }""", element_id)
    expect(page.locator("#sel-id")).to_have_text(element_id)


def _versions(page: Page) -> list[int]:
    page.goto("/modeler/incident/versions")
    return [int(v) for v in page.locator("#history tbody tr").evaluate_all("rows => rows.map(r => r.dataset.version)")]


def test_rename_task_and_deploy_next_version(page: Page):
    login(page, "owner")
    number = _open_editor(page)
    _select(page, "close_incident")
    page.fill("#p-name", "事件关闭（浏览器）")
    page.locator("#p-name").press("Tab")
    page.fill("#note", "renamed in the browser")
    page.click("#save")
    expect(page.locator("#current-version")).to_have_text(str(number + 1))
    expect(page.locator("#errors li")).to_have_count(0)
    assert _versions(page)[0] == number + 1
    row = page.locator(f'#history tr[data-version="{number + 1}"]')
    expect(row).to_contain_text("renamed in the browser")
    expect(row).to_contain_text("owner")
    # the rename is what was deployed
    page.goto(f"/modeler/incident/versions?a={number}&b={number + 1}")
    expect(page.locator("#diff")).to_contain_text("close_incident")
    expect(page.locator("#diff")).to_contain_text("事件关闭（浏览器）")
    expect(page.locator('#right g.djs-element[data-element-id="close_incident"]')).to_be_visible()


def test_english_names_of_a_step_and_of_the_process_are_edited_beside_the_names(page: Page):
    login(page, "owner")
    number = _open_editor(page)
    _select_in_modeler(page, "determine_priority")  # beneath the palette at this zoom
    expect(page.locator("#p-name-en")).to_have_value("Determine the incident priority")
    page.fill("#p-name-en", "Set the incident priority")
    page.locator("#p-name-en").press("Tab")
    _select_in_modeler(page, "incident_participant")  # the pool: its English name is the process's
    expect(page.locator("#p-name-en")).to_have_value("Incident management")
    page.fill("#p-name-en", "Incidents")
    page.locator("#p-name-en").press("Tab")
    expect(page.locator("#p-doc-en")).to_be_hidden()  # a pool's documentation is the participant's own
    _select(page, "close_incident")  # a user task: what the task page tells an English reader
    expect(page.locator("#p-doc-en")).to_have_value(re.compile(r"^Table 2 step 6 Close incident"))
    page.fill("#p-doc-en", "Close the incident once the user has confirmed.")
    page.locator("#p-doc-en").press("Tab")
    _select_in_modeler(page, "flow_in_scope_gateway_to_determine_priority")
    expect(page.locator("#p-name-en")).to_be_hidden()  # flows are not named in the UI
    page.click("#save")
    expect(page.locator("#current-version")).to_have_text(str(number + 1))
    xml = page.request.get(f"/modeler/incident/versions/{number + 1}/bpmn").text()
    assert 'name="name.en" value="Set the incident priority"' in xml
    assert 'name="name.en" value="Incidents"' in xml
    assert 'name="documentation.en" value="Close the incident once the user has confirmed."' in xml
    page.goto("/modeler?lang=en")
    expect(page.locator('tr[data-process="incident"] td').first).to_contain_text("Incidents")


def test_broken_diagram_is_marked_and_not_deployed(page: Page):
    login(page, "owner")
    number = _open_editor(page)
    _select(page, "close_incident")
    page.select_option("#p-form", "")
    page.click("#save")
    error = page.locator('#errors li[data-element-id="close_incident"]')
    expect(error).to_be_visible()
    expect(page.locator('#canvas g.djs-element.has-error[data-element-id="close_incident"]')).to_have_count(1)
    expect(page.locator("#current-version")).to_have_text(str(number))
    # clicking the error selects the element
    _select(page, "resolve_and_recover")
    error.click()
    expect(page.locator("#sel-id")).to_have_text("close_incident")
    assert _versions(page)[0] == number


def test_lane_mapped_to_no_group_is_refused(page: Page):
    login(page, "owner")
    number = _open_editor(page)
    _select(page, "incident_lead")
    page.evaluate("""() => {
        const m = window.bpmnModeler;
        const lane = m.get('elementRegistry').get('incident_lead');
        m.get('modeling').updateProperties(lane, {id: 'not_a_group'});
    }""")
    page.click("#save")
    expect(page.locator("#errors li").first).to_be_visible()
    expect(page.locator("#errors")).to_contain_text("not_a_group")
    expect(page.locator("#canvas g.djs-element.has-error").first).to_be_visible()
    expect(page.locator("#current-version")).to_have_text(str(number))


def test_dmn_edit_changes_try_it(page: Page):
    login(page, "owner")
    page.goto("/modeler/decisions/incident_priority")
    expect(page.locator("#dmn[data-ready=true]")).to_have_count(1)
    page.fill('#tryit input[data-name="impact"]', "high")
    page.fill('#tryit input[data-name="urgency"]', "high")
    expect(page.locator("#try-output")).to_contain_text('"P1"')
    expect(page.locator("#try-matched")).to_contain_text("priority_rule_high_high")
    cell = page.locator('td[data-row-id="priority_rule_high_high"][data-col-id="incident_priority_output_priority"]')
    cell.click()
    page.keyboard.press("Control+A")
    page.keyboard.type('"P0"')
    page.locator("#tryit-h").click()
    expect(page.locator("#try-output")).to_contain_text('"P0"')


def test_upload_a_bpmn_file_into_the_modeler_and_save(page: Page, tmp_path):
    login(page, "owner")
    number = _open_editor(page)
    download = page.request.get(f"/modeler/incident/versions/{number}/bpmn")
    assert download.ok
    xml = re.sub(r'(id="close_incident" name=")[^"]*"', r'\g<1>上传的关闭"', download.text(), count=1)
    assert "上传的关闭" in xml
    path = tmp_path / "incident.bpmn"
    path.write_text(xml, encoding="utf-8")
    page.set_input_files("#upload", str(path))
    expect(page.locator('#canvas g.djs-element[data-element-id="close_incident"]')).to_contain_text("上传的关闭")
    page.click("#save")
    expect(page.locator("#current-version")).to_have_text(str(number + 1))


def test_lane_group_select_sets_lane_id_and_name(page: Page):
    login(page, "owner")
    _open_editor(page)
    _select(page, "incident_lead")
    page.select_option("#p-group", "problem_lead")
    expect(page.locator("#sel-id")).to_have_text("problem_lead")
    name = page.evaluate(
        "() => window.bpmnModeler.get('elementRegistry').get('problem_lead').businessObject.name")
    assert name == "问题管理组长"


def test_form_editor_previews_and_deploys(page: Page):
    login(page, "owner")
    page.goto("/modeler/incident/forms/close_incident.schema.json")
    text = page.locator("#schema").input_value()
    edited = text.replace('"title": "', '"title": "预览-', 2)
    page.fill("#schema", edited)
    expect(page.locator("#preview")).to_contain_text("预览-")
    page.fill("#schema", "{broken")
    expect(page.locator("#preview-error")).not_to_be_empty()
    page.fill("#schema", edited)
    page.click("#save")
    expect(page.locator("#status")).to_contain_text(re.compile(r"\d"))
    page.goto("/modeler/incident/versions")
    expect(page.locator("#history tbody tr").first).to_contain_text("close_incident.schema.json")


@pytest.mark.parametrize("path", [
    "/modeler", "/modeler/incident", "/modeler/incident/versions",
    "/modeler/decisions/incident_priority", "/modeler/incident/forms/close_incident.schema.json",
])
def test_auditor_gets_403(page: Page, path: str):
    login(page, "auditor")
    response = page.goto(path)
    assert response is not None and response.status == 403
    expect(page.locator("#canvas")).to_have_count(0)
    assert not re.search(r"/login", page.url)
