"""In Chromium: an engineer marks themselves away with the browser's own date-time picker value, and the
administrator's dispatch page shows it while switching the group to least-loaded dispatch (CSRF on)."""
from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_incident_lifecycle import login, logout

pytestmark = pytest.mark.browser


def test_away_and_least_loaded_dispatch(page: Page) -> None:
    login(page, "line2")
    page.goto("/notifications/")
    tomorrow = (datetime.now() + timedelta(days=1)).replace(hour=9, minute=30)
    page.fill("#away_until", tomorrow.strftime("%Y-%m-%dT%H:%M"))  # what a datetime-local input submits
    page.click("#away-form button[type=submit]")
    expect(page.locator("#away-state")).to_contain_text(tomorrow.strftime("%Y-%m-%d 09:30"))
    logout(page)

    login(page, "admin")
    page.goto("/dispatch/?organisation=county")
    row = page.locator("tr[data-group='support_line_2']")
    expect(row).to_have_attribute("data-mode", "manual")
    expect(row).to_contain_text("不在岗至")  # line2 is away
    page.select_option("#m-support_line_2", "least_loaded")
    page.click("#dispatch-form button[type=submit]")
    expect(page.locator("tr[data-group='support_line_2']")).to_have_attribute("data-mode", "least_loaded")
    logout(page)

    login(page, "line2")
    page.goto("/notifications/")
    page.click("#away-form button[name=back]")
    expect(page.locator("#away_until")).to_be_visible()  # back: the form offers "away until" again
