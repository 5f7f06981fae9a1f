"""The service-level lead in Chromium: reads the month's quality indicators, sets the county's own target and
sees it judged against it; registers a supplier and records its half-year evaluation (CSRF on)."""
from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_incident_lifecycle import login

pytestmark = pytest.mark.browser


def test_indicators_targets_and_a_supplier(page: Page) -> None:
    login(page, "service_level_lead")
    page.get_by_role("link", name="运维指标").click()
    expect(page.locator("h1")).to_have_text("运维服务质量指标")
    satisfaction = page.locator("#indicators tr[data-code='satisfaction']")
    expect(satisfaction).to_contain_text("≥ 4.0 / 5")  # the built-in default
    page.get_by_role("link", name="目标值").click()
    page.fill("#t-satisfaction", "4.6")
    page.fill("#t-timely_response_rate", "abc")
    page.click("#targets-form button[type=submit]")
    expect(page.locator("#e-timely_response_rate")).to_be_visible()
    expect(page.locator("#t-satisfaction")).to_have_value("4.6")  # kept after the refusal
    page.fill("#t-timely_response_rate", "")
    page.click("#targets-form button[type=submit]")
    expect(page.locator("tr[data-code='satisfaction']")).to_contain_text("示范县生态环境分局")
    page.get_by_role("link", name="运维服务质量指标").click()
    expect(page.locator("#indicators tr[data-code='satisfaction']")).to_contain_text("≥ 4.6 / 5")

    page.get_by_role("link", name="供应商", exact=True).click()
    expect(page.locator("#vendor-list tr[data-code='VEN-EQM']")).to_be_visible()
    page.get_by_role("link", name="登记供应商").click()
    page.fill("#f-code", "VEN-NET")
    page.fill("#f-name", "示范网络工程公司")
    page.select_option("#f-kind", "infrastructure")
    page.fill("#f-contract_start", "2026-01-01")
    page.fill("#f-contract_end", "2026-12-31")
    page.click("#vendor-form button[type=submit]")
    expect(page.locator("h1")).to_contain_text("示范网络工程公司")
    page.fill("#staff-form input[name=username]", "line2")
    page.click("#staff-form button[type=submit]")
    expect(page.locator("#vendor-staff li[data-user='line2']")).to_be_visible()
    page.fill("#evaluation-form input[name=period]", "2026-H2")
    for name, score in (("quality", "4"), ("timeliness", "5"), ("cooperation", "3")):
        page.select_option(f"#evaluation-form select[name={name}]", score)
    page.click("#evaluation-form button[type=submit]")
    expect(page.locator("#evaluations tr[data-period='2026-H2']")).to_contain_text("4.0")
    expect(page.locator("#average")).to_have_text("4.0")
