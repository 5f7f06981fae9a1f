"""The CMDB in Chromium: open a CI, its relation graph (cytoscape.js) and its impact list."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser


def login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form.narrow button[type=submit]")
    expect(page.locator("header form[action$='/logout']")).to_be_visible()


def test_ci_page_graph_and_impact(page: Page) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, "line1")
    page.click("header a[href='/cmdb']")
    expect(page).to_have_url(re.compile(r"/cmdb$"))
    page.click("#ci-list a:text-is('SRV-DB-01')")
    expect(page.locator("#ci-code")).to_have_text("SRV-DB-01")
    # The impact list: what fails with the database server.
    impact = page.locator("#impact tr[data-code]")
    expect(impact).to_have_count(5)
    for code in ("DB-ORA-01", "APP-EQM", "SVC-EQM", "WEB-PORTAL", "NET-CORE-01"):
        expect(page.locator(f"#impact tr[data-code='{code}']")).to_have_count(1)
    expect(page.locator("#relations")).to_contain_text("STO-SAN-01")
    # The graph: cytoscape draws the neighbourhood on a canvas.
    page.click("#graph-link")
    expect(page).to_have_url(re.compile(r"/cmdb/SRV-DB-01/graph$"))
    expect(page.locator("#cy[data-ready]")).to_have_count(1)
    nodes = int(page.locator("#cy").get_attribute("data-ready"))
    assert nodes == 5, nodes  # SRV-DB-01, DB-ORA-01, NET-CORE-01, STO-SAN-01 and (two hops) APP-EQM
    expect(page.locator("#cy canvas").first).to_be_visible()
    assert page.evaluate("typeof cytoscape") == "function"
    expect(page.locator("#impact-list li[data-code='SVC-EQM']")).to_have_count(1)
    assert errors == [], errors
