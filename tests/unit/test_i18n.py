"""UI language: the zh_CN catalog is complete and current, pages speak Chinese by default and English on request.

tests/conftest.py compiles the catalogs before collection (see compile_catalogs there).
"""
from __future__ import annotations

from pathlib import Path

import pytest
from babel import Locale
from babel.messages.frontend import CommandLineInterface
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "app" / "translations"
# Babel 2.x resolves "zh_CN" to zh_Hans_CN (likely subtags) and Flask-Babel looks the catalog up under that
# name, so the Simplified Chinese catalog lives in zh_Hans_CN/; a zh_CN/ directory would never be loaded.
ZH_PO = TRANSLATIONS / "zh_Hans_CN" / "LC_MESSAGES" / "messages.po"
# The same keywords as the documented extract command (see babel.cfg).
EXTRA_KEYWORDS = ("_l", "lazy_gettext")




def _read_zh():  # noqa: ANN202
    with ZH_PO.open("rb") as f:
        return read_po(f, locale="zh_CN")


def _extract(tmp_path: Path) -> set[str]:
    """Re-run the extraction into a temporary .pot and return its message ids."""
    pot = tmp_path / "messages.pot"
    argv = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg")]
    for keyword in EXTRA_KEYWORDS:
        argv += ["-k", keyword]
    CommandLineInterface().run([*argv, "-o", str(pot), str(ROOT)])
    with pot.open("rb") as f:
        template = read_po(f)
    return {m.id if isinstance(m.id, str) else m.id[0] for m in template if m.id}


def _reset_locale_cache() -> None:
    """Forget the locale Flask-Babel cached in `g`: the test's app context outlives single requests."""
    from flask import has_app_context
    from flask_babel import refresh

    if has_app_context():
        refresh()


def _get(client, url: str):  # noqa: ANN001, ANN202
    _reset_locale_cache()
    return client.get(url)


# --- the catalogs -------------------------------------------------------------------------------------------------


def test_zh_cn_catalog_translates_every_message() -> None:
    catalog = _read_zh()
    untranslated = [m.id for m in catalog if m.id and (not m.string or m.fuzzy
                                                        or (isinstance(m.string, tuple) and not all(m.string)))]
    assert not untranslated, f"{len(untranslated)} msgid(s) without a zh_CN translation: {untranslated}"
    problems = [(m.id, [str(e) for e in errors]) for m, errors in catalog.check()]
    assert not problems, f"zh_CN translations with placeholder errors: {problems}"


def test_zh_cn_catalog_is_current(tmp_path: Path) -> None:
    extracted = _extract(tmp_path)
    # The extraction must see python gettext calls, the lazy labels and the templates, or the check proves nothing.
    assert {"This field is required.", "Decision evaluated", "Log in", "Inbox"} <= extracted
    known = {m.id if isinstance(m.id, str) else m.id[0] for m in _read_zh() if m.id}
    missing = sorted(extracted - known)
    assert not missing, (
        f"{len(missing)} message(s) not in {ZH_PO.relative_to(ROOT)}; run `pybabel extract -F babel.cfg "
        f"-k _l -k lazy_gettext -o app/translations/messages.pot .`, `pybabel update -i "
        f"app/translations/messages.pot -d app/translations` and translate: {missing}")


def test_every_offered_language_has_a_catalog_where_flask_babel_looks(app) -> None:  # noqa: ANN001
    for language in app.config["LANGUAGES"]:
        directory = TRANSLATIONS / str(Locale.parse(language)) / "LC_MESSAGES"
        assert (directory / "messages.po").is_file(), f"{language}: no catalog at {directory.relative_to(ROOT)}"
        assert (directory / "messages.mo").is_file(), f"{language}: catalog not compiled"


# --- the pages ----------------------------------------------------------------------------------------------------


def test_login_page_is_chinese_by_default(client) -> None:  # noqa: ANN001
    page = _get(client, "/login")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "登录" in html and "用户名" in html and "密码" in html
    assert "Log in" not in html


def test_login_page_in_english_on_request_and_the_cookie_keeps_it(client) -> None:  # noqa: ANN001
    page = _get(client, "/login?lang=en")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Log in" in html and "Username" in html
    assert "登录" not in html
    cookie = client.get_cookie("lang")
    assert cookie is not None and cookie.value == "en"

    again = _get(client, "/login").get_data(as_text=True)
    assert "Log in" in again and "登录" not in again

    back = _get(client, "/login?lang=zh_CN").get_data(as_text=True)
    assert "登录" in back
    assert client.get_cookie("lang").value == "zh_CN"


def test_chinese_page_is_marked_chinese_and_offers_english(client) -> None:  # noqa: ANN001
    html = _get(client, "/login").get_data(as_text=True)
    assert 'lang="zh-CN"' in html
    assert 'hreflang="en"' in html and "lang=en" in html


def test_unknown_language_falls_back_to_chinese(client) -> None:  # noqa: ANN001
    html = _get(client, "/login?lang=fr").get_data(as_text=True)
    assert "登录" in html
    assert client.get_cookie("lang") is None


def test_inbox_navigation_is_chinese_for_the_service_desk(login_as) -> None:  # noqa: ANN001
    desk = login_as("service_desk")
    page = _get(desk, "/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for text in ("待办", "故障报修", "登记事件", "退出登录", "分配给我的", "本组待认领"):
        assert text in html, text
    for text in ("Inbox", "Report a fault", "Record an incident", "Log out"):
        assert text not in html, text


@pytest.mark.parametrize("how", ["query", "user"])
def test_inbox_in_english_by_query_or_user_preference(login_as, db, how: str) -> None:  # noqa: ANN001
    desk = login_as("service_desk")
    if how == "user":
        desk.user.locale = "en"
        db.session.commit()
    html = _get(desk, "/?lang=en" if how == "query" else "/").get_data(as_text=True)
    for text in ("Inbox", "Report a fault", "Record an incident", "Log out"):
        assert text in html, text
    assert "待办" not in html
