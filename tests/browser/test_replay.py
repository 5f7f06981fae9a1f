"""The auditor replays an escalated, finished incident step by step in Chromium.

The incident is driven first with service calls (record at the county desk, three support lines, upward
escalation to the city, problem and RFC requested, reopened once, both replies delivered, closed); then the
auditor opens its replay, steps through it with the timeline, the buttons, the slider and the keyboard, and
the test checks the highlighted elements and flows and the data shown at three steps against what it did.
"""
from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from app import create_app
from app.config import TestConfig
from tests.browser.conftest import TIMEOUT_MS
from tests.browser.test_incident_lifecycle import login
from tests.conftest import setup_database

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def replay_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict]]:
    """A live app (own SQLite file, CSRF on) holding one finished, escalated incident; yields (url, facts)."""
    from werkzeug.serving import make_server

    from app.extensions import db
    from tests.replay_support import drive

    os.environ.setdefault("APP_ENV", "testing")
    config = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
    config.update({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path_factory.mktemp('replay-db') / 'itsm.sqlite3'}",
                   "WTF_CSRF_ENABLED": True, "SERVER_NAME": None})
    application = create_app(config)
    setup_database(application)
    with application.app_context():
        instance = drive("escalations_problem_rfc_reopen", commit=True)
        facts = {"id": instance.id, "key": instance.business_key, "status": instance.status}
    server = make_server("127.0.0.1", 0, application, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="replay-live-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", facts
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()
        with application.app_context():
            db.engine.dispose()


@pytest.fixture
def replay_page(browser, replay_server) -> Iterator[Page]:
    url, _facts = replay_server
    context = browser.new_context(base_url=url, viewport={"width": 1400, "height": 1000}, locale="en-US",
                                  timezone_id="Asia/Shanghai")
    context.set_default_timeout(TIMEOUT_MS)
    pg = context.new_page()
    try:
        yield pg
    finally:
        context.close()


def element(page: Page, element_id: str):
    return page.locator(f"g.djs-element[data-element-id='{element_id}']")


def go_to(page: Page, seq: int) -> None:
    page.locator(f"#timeline li[data-seq='{seq}'] button").click()
    expect(page.locator("#replay")).to_have_attribute("data-seq", str(seq))


def seq_of(page: Page, type_: str, element_id: str | None = None, nth: int = 0) -> int:
    steps = page.evaluate("window.replayState.steps")
    found = [s["seq"] for s in steps if s["type"] == type_ and (element_id is None or s["element"] == element_id)]
    return found[nth]


def test_auditor_steps_through_an_escalated_incident(replay_page: Page, replay_server) -> None:
    page = replay_page
    _url, facts = replay_server
    assert facts["status"] == "completed"
    login(page, "auditor")
    page.goto(f"/audit/instances?business_key={facts['key']}&lang=en")
    page.locator(f"tr[data-key='{facts['key']}'] a").click()
    expect(page).to_have_url(re.compile(rf"/audit/instances/{facts['id']}$"))
    replay = page.locator("#replay")
    expect(replay).to_have_attribute("data-ready", "true")
    expect(element(page, "detect_and_record")).to_have_count(1)  # the diagram is drawn

    # Step 1: started, nothing completed yet; → and ← move one step.
    expect(replay).to_have_attribute("data-seq", "1")
    expect(page.locator("#d-actor")).to_have_text("desk")
    page.keyboard.press("ArrowRight")
    expect(replay).to_have_attribute("data-seq", "2")
    page.click("#step-forward")
    expect(replay).to_have_attribute("data-seq", "3")
    expect(element(page, "detect_and_record")).to_have_class(re.compile(r"\breplay-active\b"))
    page.click("#step-back")
    page.keyboard.press("ArrowLeft")
    expect(replay).to_have_attribute("data-seq", "1")

    # (a) The desk recorded the incident at the county with category hardware and CI SRV-DB-01.
    go_to(page, seq_of(page, "task_completed", "detect_and_record"))
    expect(page.locator("#d-actor")).to_have_text("desk")
    expect(page.locator("#d-org")).to_have_text("county")
    expect(page.locator("#d-form")).to_contain_text('"category": "hardware"')
    expect(page.locator("#d-form")).to_contain_text("SRV-DB-01")
    expect(page.locator("#d-changes")).to_contain_text("in_scope")
    expect(element(page, "detect_and_record")).to_have_class(re.compile(r"\breplay-completed\b"))
    expect(element(page, "detect_and_record")).to_have_class(re.compile(r"\breplay-current\b"))
    expect(element(page, "flow_incident_raised_to_detect_and_record")).to_have_class(re.compile(r"\breplay-flow\b"))
    expect(element(page, "classify_and_first_support")).not_to_have_class(re.compile(r"replay-(completed|active)"))
    expect(element(page, "flow_request_upper_level_to_desk_merge")).not_to_have_class(re.compile("replay-flow"))

    # The priority decision right after: its inputs, output and matched rule are shown.
    go_to(page, seq_of(page, "decision_evaluated", "determine_priority"))
    expect(page.locator("#d-decision")).to_contain_text('"decision_id": "incident_priority"')
    expect(page.locator("#d-decision")).to_contain_text('"high"')
    expect(page.locator("#d-decision")).to_contain_text('"rule_id"')

    # (b) Line 3 could not solve it: escalated from the county to the city; the investigation task is active.
    go_to(page, seq_of(page, "escalated_upward"))
    expect(page.locator("#d-actor")).to_have_text("line3")
    expect(page.locator("#d-detail")).to_contain_text('"to_organisation": "city"')
    expect(page.locator("#d-detail")).to_contain_text('"from_organisation": "county"')
    expect(element(page, "investigate_and_diagnose")).to_have_class(re.compile(r"\breplay-active\b"))
    expect(element(page, "classify_and_first_support")).to_have_class(re.compile(r"\breplay-completed\b"))
    expect(element(page, "flow_request_upper_level_to_desk_merge")).not_to_have_class(re.compile("replay-flow"))
    page.screenshot(path="/tmp/replay-escalated.png", full_page=True)
    # The next step with the city's desk: the escalation flow is taken, the actor is desk_city.
    go_to(page, seq_of(page, "task_completed", "classify_and_first_support", 1))
    expect(page.locator("#d-actor")).to_have_text("desk_city")
    expect(page.locator("#d-org")).to_have_text("city")
    expect(element(page, "flow_request_upper_level_to_desk_merge")).to_have_class(re.compile(r"\breplay-flow\b"))
    expect(element(page, "request_upper_level")).to_have_class(re.compile(r"\breplay-completed\b"))

    # (c) The slider to the end: closed by the city desk, nothing active, the end event reached.
    slider = page.locator("#step-slider")
    last = int(slider.get_attribute("max") or "0")
    slider.evaluate("(el, v) => { el.value = String(v); el.dispatchEvent(new Event('input')); }", last)
    expect(replay).to_have_attribute("data-step", str(last))
    expect(page.locator("#d-type")).to_have_text("Finished")
    expect(element(page, "incident_closed")).to_have_class(re.compile(r"\breplay-completed\b"))
    expect(element(page, "close_incident")).to_have_class(re.compile(r"\breplay-completed\b"))
    expect(page.locator("g.djs-element.replay-active")).to_have_count(0)
    expect(element(page, "flow_knowledge_merge_to_incident_closed")).to_have_class(re.compile(r"\breplay-flow\b"))
    closing = seq_of(page, "task_completed", "close_incident")
    go_to(page, closing)
    expect(page.locator("#d-actor")).to_have_text("desk_city")
    expect(page.locator("#d-form")).to_contain_text('"closure_code": "resolved"')

    # Verify (a POST with the CSRF token) reports the chain consistent; re-execution agrees.
    page.click("#verify-btn")
    expect(page.locator("#audit-result")).to_have_attribute("data-consistent", "true")
    page.click("#reexecute-btn")
    expect(page.locator("#audit-result")).to_have_attribute("data-kind", "reexecute")
    expect(page.locator("#audit-result")).to_have_attribute("data-consistent", "true")

    # A linked case (the problem the incident requested) opens at the time of the link.
    expect(page.locator("#replay")).to_have_attribute("data-ready", "true")
    page.locator("#links a").first.click()
    expect(page).to_have_url(re.compile(r"/audit/instances/\d+\?at="))
    expect(page.locator("#replay")).to_have_attribute("data-ready", "true")
    assert int(page.locator("#replay").get_attribute("data-step") or "0") > 0
    steps = page.evaluate("window.replayState.steps.slice(0, window.replayState.index + 1).map(s => s.type)")
    assert "link_created" in steps


def test_replay_times_are_in_the_products_time_zone_whatever_the_browsers(browser, replay_server) -> None:
    """An auditor abroad (or a browser set to UTC) sees the same times as the case page and the audit package."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    url, facts = replay_server
    context = browser.new_context(base_url=url, locale="en-US", timezone_id="America/New_York")
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        login(page, "auditor")
        page.goto(f"/audit/instances/{facts['id']}?lang=en")
        expect(page.locator("#replay")).to_have_attribute("data-ready", "true")
        first = page.evaluate("window.replayState.steps[0]")
        local = datetime.fromisoformat(first["at"]).astimezone(ZoneInfo(TestConfig.BABEL_DEFAULT_TIMEZONE))
        expect(page.locator("#d-at")).to_have_text(local.strftime("%Y-%m-%d %H:%M:%S"))
        expect(page.locator("#timeline li").first).to_contain_text(local.strftime("%H:%M:%S") + " ")
    finally:
        context.close()
