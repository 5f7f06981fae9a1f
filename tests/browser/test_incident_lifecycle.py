"""An incident from fault report to closure, clicked through the real pages in Chromium.

Every step goes through the HTML forms (with their CSRF tokens) as the demo user who holds the lane:
reporter reports -> desk records (priority from the DMN) -> desk classifies, cannot solve -> the support
line chosen by dmn/incident_classification.dmn investigates and resolves -> reporter confirms -> desk closes.
"""
from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest
from babel import Locale
from playwright.sync_api import Page, expect

from tests.conftest import DEMO_PASSWORD

pytestmark = pytest.mark.browser

KEY_RE = re.compile(r"INC-\d{8}-\d{4}")
SHOTS = Path("/tmp")
# Where Flask-Babel looks for the zh_CN catalog (Babel names the locale zh_Hans_CN).
ZH_CATALOG = (Path(__file__).resolve().parents[2] / "app" / "translations" / str(Locale.parse("zh_CN"))
              / "LC_MESSAGES" / "messages.mo")


# --- helpers -------------------------------------------------------------------------------------------

def login(page: Page, username: str) -> None:
    page.goto("/login")
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    page.click("form.narrow button[type=submit]")
    # The login form redirects to the inbox; its nav carries the logout form only when logged in.
    expect(page.locator("header form[action$='/logout']")).to_be_visible()
    assert not page.url.rstrip("/").endswith("/login"), page.url


def logout(page: Page) -> None:
    page.click("header form[action$='/logout'] button")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("#username")).to_be_visible()


def open_task(page: Page, key: str, task_name: str) -> None:
    """Open a task of this incident from the inbox, by clicking its link in the row of the case."""
    page.goto("/")
    row = page.locator("tr[data-task-id]").filter(has_text=key).filter(has_text=task_name)
    expect(row).to_have_count(1)
    row.get_by_role("link", name=task_name).click()
    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    expect(page.locator("h1")).to_contain_text(task_name)
    expect(page.locator("h1 small")).to_have_text(key)


def field(page: Page, name: str):
    """The .field wrapper of a form field (its control, description and error message)."""
    return page.locator("div.field").filter(has=page.locator(f"[name='{name}']"))


def yes_no(page: Page, name: str, value: bool) -> None:
    """A required boolean: explicit yes/no radio buttons."""
    page.check(f"input[type=radio][name='{name}'][value='{'true' if value else 'false'}']")


def tick(page: Page, name: str, value: bool) -> None:
    """An optional (or only conditionally required) boolean: a checkbox, or yes/no if the form asks so."""
    if page.locator(f"input[type=radio][name='{name}']").count():
        yes_no(page, name, value)
    else:
        page.set_checked(f"input[type=checkbox][name='{name}']", value)


def complete(page: Page) -> None:
    """Submit the task form; a completed task leads back to the inbox with a success message."""
    page.click("form.task-form button.primary")
    expect(page.locator("p.flash.success")).to_be_visible()
    expect(page.locator("p.flash.error")).to_have_count(0)
    assert urlparse(page.url).path == "/", page.url


# --- the lifecycle -------------------------------------------------------------------------------------

def test_incident_lifecycle_through_the_pages(page: Page) -> None:
    # 1. The reporter reports a fault through the self-service form.
    login(page, "reporter")
    page.goto("/incidents/report")
    page.fill("textarea[name=symptoms]", "打印机卡纸，无法打印监测报告")
    page.fill("input[name=error_codes]", "E-0042")
    page.fill("input[name=occurred_at]", "2026-11-25T09:30")
    page.select_option("select[name=impact]", "medium")
    page.select_option("select[name=category]", "hardware")
    page.click("form button.primary")
    expect(page).to_have_url(re.compile(r"/instances/\d+$"))
    key = page.locator("#rec-number").inner_text().strip()
    assert KEY_RE.fullmatch(key), key
    expect(page.locator("h1")).to_contain_text(key)
    expect(page.locator("p.flash.success")).to_contain_text(key)
    instance_path = re.search(r"/instances/\d+$", page.url).group(0)
    logout(page)

    # 2. The desk records it: the reporter's values are offered, the desk completes and corrects them.
    login(page, "desk")
    page.goto("/")
    expect(page.locator("tr[data-task-id]").filter(has_text=key)).to_contain_text("事件检测和记录")
    page.screenshot(path=str(SHOTS / "browser-inbox.png"), full_page=True)
    open_task(page, key, "事件检测和记录")
    expect(page.locator("textarea[name=symptoms]")).to_have_value("打印机卡纸，无法打印监测报告")
    expect(page.locator("input[name=error_codes]")).to_have_value("E-0042")
    # Stored as 09:30+08:00 and shown again in local time, unchanged.
    expect(page.locator("input[name=occurred_at]")).to_have_value("2026-11-25T09:30")
    expect(page.locator("select[name=impact]")).to_have_value("medium")
    expect(page.locator("select[name=category]")).to_have_value("hardware")
    expect(page.locator("input[name=reporter_name]")).not_to_have_value("")
    page.screenshot(path=str(SHOTS / "browser-task.png"), full_page=True)

    page.select_option("select[name=impact]", "high")
    page.select_option("select[name=urgency]", "high")
    page.select_option("select[name=category]", "hardware")
    page.select_option("select[name=affected_cis]", ["SRV-DB-01"])
    page.fill("input[name=occurred_at]", "2026-11-25T09:15")
    yes_no(page, "in_scope", True)
    complete(page)

    # Impact high + urgency high -> P1 (dmn/incident_priority.dmn); hardware -> support line 1.
    page.goto(instance_path)
    expect(page.locator("#rec-priority")).to_have_text("P1")
    expect(page.locator("#rec-status")).to_have_attribute("data-status", "classified")
    expect(page.locator("dl.record")).to_contain_text("2026-11-25 09:15")
    expect(page.locator("dl.record")).to_contain_text("SRV-DB-01")

    # 3. The desk cannot solve it at first support.
    open_task(page, key, "分类和初步支持")
    expect(page.locator("section.kb")).to_be_visible()
    yes_no(page, "desk_solved", False)
    complete(page)
    page.goto(instance_path)
    expect(page.locator("table.list")).to_contain_text("调查和分析")
    logout(page)

    # 4. Support line 1 (hardware) investigates and resolves.
    login(page, "line1")
    open_task(page, key, "调查和分析")
    page.select_option("select[name=outcome]", "solved")
    page.fill("textarea[name=diagnosis]", "进纸辊磨损")
    page.fill("textarea[name=solution]", "更换进纸辊")
    # Required only when the outcome is "solved" (if/then), so the form shows a checkbox, not yes/no.
    tick(page, "root_cause_known", True)
    complete(page)
    open_task(page, key, "解决和恢复")
    page.fill("textarea[name=resolution]", "已更换进纸辊，打印恢复正常")
    yes_no(page, "service_restored", True)
    yes_no(page, "needs_change", False)
    complete(page)
    logout(page)

    # 5. The reporter (requester lane) confirms the resolution from their own inbox.
    login(page, "reporter")
    page.goto("/")
    expect(page.locator("#count-mine")).to_have_text("1")
    open_task(page, key, "用户确认解决")
    yes_no(page, "confirmed", True)
    page.fill("textarea[name=feedback]", "可以正常打印了")
    page.fill("input[name=satisfaction]", "5")
    complete(page)
    logout(page)

    # 6. The desk closes the incident.
    login(page, "desk")
    open_task(page, key, "事件关闭")
    page.select_option("select[name=closure_code]", "resolved")
    page.fill("textarea[name=closure_note]", "用户确认后关闭")
    yes_no(page, "submit_knowledge", False)
    complete(page)

    page.goto(instance_path)
    # The code is in data-status; the text is its label (translated or not).
    expect(page.locator("#rec-status")).to_have_attribute("data-status", "closed")
    expect(page.locator("#rec-status")).to_have_text(re.compile(r"closed|关闭", re.I))
    expect(page.locator("#instance-status")).to_have_attribute("data-status", "completed")
    expect(page.locator("#instance-status")).to_have_text(re.compile(r"已完成|完成|Completed|Finished", re.I))
    expect(page.locator("#rec-priority")).to_have_text("P1")
    # Nothing is left open on the case.
    expect(page.locator("table.list tbody a")).to_have_count(0)
    page.screenshot(path=str(SHOTS / "browser-instance.png"), full_page=True)


# --- validation errors ---------------------------------------------------------------------------------

def test_record_form_shows_error_beside_emptied_field_and_keeps_typed_values(page: Page) -> None:
    login(page, "desk")
    page.goto("/incidents/record")
    page.fill("input[name=reporter_name]", "李四")
    page.fill("input[name=reporter_contact]", "13900000000")
    page.select_option("select[name=channel]", "email")
    page.fill("input[name=occurred_at]", "2026-11-26T14:05")
    page.fill("textarea[name=symptoms]", "临时文字")
    page.fill("input[name=error_codes]", "NET-503")
    page.select_option("select[name=impact]", "low")
    page.select_option("select[name=urgency]", "medium")
    page.select_option("select[name=category]", "network")
    page.fill("textarea[name=symptoms]", "")  # the required field, emptied again
    page.click("form button.primary")

    expect(page.locator("p.flash.error")).to_be_visible()
    symptoms = field(page, "symptoms")
    expect(symptoms).to_have_class(re.compile(r"\bhas-error\b"))
    expect(symptoms.locator("p.error")).to_be_visible()
    expect(page.locator("textarea[name=symptoms]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("textarea[name=symptoms]")).to_have_attribute("aria-describedby", "f_symptoms_err")
    # Only the emptied field is marked.
    expect(page.locator("div.field.has-error")).to_have_count(1)
    # Everything else typed is still there.
    expect(page.locator("input[name=reporter_name]")).to_have_value("李四")
    expect(page.locator("input[name=reporter_contact]")).to_have_value("13900000000")
    expect(page.locator("select[name=channel]")).to_have_value("email")
    expect(page.locator("input[name=occurred_at]")).to_have_value("2026-11-26T14:05")
    expect(page.locator("input[name=error_codes]")).to_have_value("NET-503")
    expect(page.locator("select[name=impact]")).to_have_value("low")
    expect(page.locator("select[name=urgency]")).to_have_value("medium")
    expect(page.locator("select[name=category]")).to_have_value("network")
    expect(page.locator("textarea[name=symptoms]")).to_have_value("")

    # Correcting the field (with a fresh CSRF token from the re-rendered form) records the incident.
    page.fill("textarea[name=symptoms]", "核心交换机端口频繁断开")
    page.click("form button.primary")
    expect(page).to_have_url(re.compile(r"/instances/\d+$"))
    expect(page.locator("#rec-number")).to_have_text(KEY_RE)


def _report_and_open_record_task(page: Page, symptoms: str) -> str:
    """Reporter reports a fault; the desk opens its record task. Returns the business key."""
    login(page, "reporter")
    page.goto("/incidents/report")
    page.fill("textarea[name=symptoms]", symptoms)
    page.click("form button.primary")
    expect(page).to_have_url(re.compile(r"/instances/\d+$"))
    key = page.locator("#rec-number").inner_text().strip()
    logout(page)
    login(page, "desk")
    open_task(page, key, "事件检测和记录")
    return key


def test_task_form_shows_error_beside_emptied_field_and_keeps_typed_values(page: Page) -> None:
    """The same on a task page: the desk empties a required field of the record step."""
    _report_and_open_record_task(page, "门户网站打不开")
    page.fill("input[name=reporter_contact]", "")
    page.fill("input[name=occurred_at]", "2026-11-26T08:00")
    page.select_option("select[name=impact]", "low")
    page.select_option("select[name=urgency]", "low")
    page.select_option("select[name=category]", "application")
    yes_no(page, "in_scope", True)
    page.fill("input[name=error_codes]", "HTTP-502")
    page.click("form.task-form button.primary")

    expect(page).to_have_url(re.compile(r"/tasks/\d+$"))
    expect(page.locator("p.flash.error")).to_be_visible()
    contact = field(page, "reporter_contact")
    expect(contact).to_have_class(re.compile(r"\bhas-error\b"))
    expect(contact.locator("p.error")).to_be_visible()
    expect(page.locator("input[name=reporter_contact]")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("div.field.has-error")).to_have_count(1)
    page.screenshot(path=str(SHOTS / "browser-task-error.png"), full_page=True)
    expect(page.locator("input[name=occurred_at]")).to_have_value("2026-11-26T08:00")
    expect(page.locator("select[name=impact]")).to_have_value("low")
    expect(page.locator("select[name=urgency]")).to_have_value("low")
    expect(page.locator("select[name=category]")).to_have_value("application")
    expect(page.locator("input[name=error_codes]")).to_have_value("HTTP-502")
    expect(page.locator("input[name=in_scope][value=true]")).to_be_checked()
    expect(page.locator("textarea[name=symptoms]")).to_have_value("门户网站打不开")

    page.fill("input[name=reporter_contact]", "0571-0000000")
    complete(page)


def test_task_form_keeps_an_emptied_field_empty(page: Page) -> None:
    _report_and_open_record_task(page, "邮件系统收不到邮件")
    expect(page.locator("input[name=reporter_contact]")).not_to_have_value("")
    page.fill("input[name=reporter_contact]", "")
    page.click("form.task-form button.primary")
    expect(field(page, "reporter_contact")).to_have_class(re.compile(r"\bhas-error\b"))
    expect(page.locator("input[name=reporter_contact]")).to_have_value("", timeout=1000)


def test_each_missing_field_says_required_once(page: Page) -> None:
    """jsonschema reports one 'required' error per missing field, each with the whole list: no repeats."""
    login(page, "desk")
    page.goto("/incidents/record")
    page.select_option("select[name=channel]", "phone")
    page.fill("textarea[name=symptoms]", "机房空调告警")
    page.click("form button.primary")  # reporter name and contact left empty
    expect(page.locator("div.field.has-error")).to_have_count(2)
    for name in ("reporter_name", "reporter_contact"):
        message = field(page, name).locator("p.error")
        expect(message).to_have_text(re.compile(r"^\s*\S+\s*$"))  # one message, not two


# --- language ------------------------------------------------------------------------------------------

def test_chinese_is_default_and_lang_en_switches_to_english(page: Page) -> None:
    assert ZH_CATALOG.exists(), f"{ZH_CATALOG} missing: the Chinese UI catalog is not compiled"
    login(page, "desk")
    page.goto("/")
    nav = page.locator("header nav")
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(nav.get_by_role("link", name="待办")).to_be_visible()
    expect(nav).not_to_contain_text("Inbox")
    expect(page.locator("h1")).to_have_text("待办")

    page.goto("/?lang=en")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(nav.get_by_role("link", name="Inbox")).to_be_visible()
    expect(nav).not_to_contain_text("待办")
    expect(page.locator("header .right a[hreflang=zh-CN]")).to_have_text("中文")
    # The choice sticks (cookie) on the next page without the parameter.
    page.goto("/incidents/record")
    expect(page.locator("h1")).to_have_text("Record an incident")

    page.click("header .right a[hreflang=zh-CN]")
    expect(page.locator("h1")).to_have_text(re.compile("登记"))
    expect(nav.get_by_role("link", name="待办")).to_be_visible()


def test_chinese_page_is_marked_chinese_and_offers_english(page: Page) -> None:
    """Babel spells zh_CN as zh_Hans_CN: the page must still say lang=zh-CN and show Chinese group names."""
    login(page, "desk")
    page.goto("/incidents/record")
    page.fill("textarea[name=symptoms]", "语言检查")
    page.fill("input[name=reporter_name]", "王五")
    page.fill("input[name=reporter_contact]", "110")
    page.select_option("select[name=channel]", "phone")
    page.click("form button.primary")
    expect(page.locator("table.list")).to_contain_text("服务台")  # group of the record task
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("header .right a[hreflang=en]")).to_have_text("English")
