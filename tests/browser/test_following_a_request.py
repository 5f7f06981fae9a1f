"""Following a request in Chromium: the reporter finds it under My requests and writes a note; the desk finds
it under Cases, reads the note and answers with a public and an internal note."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_incident_lifecycle import KEY_RE, login, logout

pytestmark = pytest.mark.browser

# A 2 x 1 pixel PNG (a real image, so the browser can decode it).
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000002000000010806000000f4227f8a0000000e49444154789c63f8cfc0f01f"
    "040110f803fd4e95c16f0000000049454e44ae426082")


def test_a_request_followed_and_discussed_through_notes(page: Page) -> None:
    login(page, "reporter")
    page.goto("/incidents/report")
    page.fill("textarea[name=symptoms]", "扫描仪无法连接，提示驱动错误")
    page.fill("input[name=occurred_at]", "2026-11-26T08:40")
    page.select_option("select[name=category]", "hardware")
    page.click("form button.primary")
    key = page.locator("#rec-number").inner_text().strip()
    assert KEY_RE.fullmatch(key), key

    # The menu leads to the reporter's own requests, with where each one stands.
    page.get_by_role("link", name="我提交的工单").click()
    expect(page.locator("h1")).to_have_text("我提交的工单")
    row = page.locator(f"#case-results tr[data-key='{key}']")
    expect(row).to_contain_text("事件检测和记录")
    row.get_by_role("link", name=key).click()
    expect(page.locator("input[name=internal]")).to_have_count(0)  # requesters write public notes only
    page.fill("#note-text", "今天上午在办公室，可随时联系")
    page.set_input_files("#note-files", files=[{"name": "报错截图.png", "mimeType": "image/png", "buffer": PNG}])
    page.click("#note-form button[type=submit]")
    expect(page.locator("p.flash.success")).to_be_visible()
    expect(page.locator("#notes")).to_contain_text("今天上午在办公室，可随时联系")
    # The screenshot is shown with the note (the browser really loads and decodes it).
    image = page.locator("#notes ul.files img[alt='报错截图.png']")
    expect(image).to_be_visible()
    assert image.evaluate("img => img.complete && img.naturalWidth") == 2
    logout(page)

    # The desk searches its cases by text and answers.
    login(page, "desk")
    page.get_by_role("link", name="工单", exact=True).click()
    page.fill("#case-search input[name=q]", "扫描仪")
    page.click("#case-search button[type=submit]")
    expect(page.locator("#case-results tr[data-key]")).to_have_count(1)
    page.screenshot(path="/tmp/browser-cases.png", full_page=True)
    page.get_by_role("link", name=key).click()
    expect(page.locator("#notes")).to_contain_text("今天上午在办公室")
    page.fill("#note-text", "驱动版本过旧，准备远程升级")
    page.check("input[name=internal]")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#notes li.internal")).to_contain_text("驱动版本过旧")
    page.fill("#note-text", "十点前后远程协助，请保持电脑开机")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#notes > li")).to_have_count(3)
    # A note the server refuses keeps the text (empty after trimming: the browser's own check passes).
    page.fill("#note-text", "   ")
    page.click("#note-form button[type=submit]")
    expect(page.locator("#note-text-error")).to_be_visible()
    page.screenshot(path="/tmp/browser-notes.png", full_page=True)
    logout(page)

    # The reporter sees the public answer, not the internal note.
    login(page, "reporter")
    page.get_by_role("link", name="我提交的工单").click()
    page.get_by_role("link", name=key).click()
    expect(page).to_have_url(re.compile(r"/instances/\d+$"))
    expect(page.locator("#notes")).to_contain_text("十点前后远程协助")
    expect(page.locator("#notes")).not_to_contain_text("驱动版本过旧")

    # The scanner works again after all: the reporter withdraws the request.
    page.click("details.withdraw summary")
    page.fill("#withdraw-reason", "重新插拔后恢复正常")
    page.click("#withdraw-form button[type=submit]")
    expect(page.locator("p.flash.success")).to_be_visible()
    expect(page.locator("#instance-status")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#rec-status")).to_have_attribute("data-status", "cancelled")
    expect(page.locator("#note-form")).to_have_count(0)
    expect(page.locator("ol.history")).to_contain_text("重新插拔后恢复正常")
