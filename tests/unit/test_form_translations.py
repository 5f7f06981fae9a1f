"""Form labels in the UI language: "x-translations" beside each title and description, checked at deploy."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app.engine.definitions import validate_form_schema
from app.services.forms import choice_labels, choices, localized

FORMS = Path(__file__).resolve().parents[2] / "forms"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")

SCHEMA = {
    "title": "事件发起", "x-translations": {"en": {"title": "Report an incident"}},
    "type": "object",
    "properties": {
        "reporter_name": {"type": "string", "title": "事件报告人", "description": "d) 报告人员",
                          "x-translations": {"en": {"title": "Reporter", "description": "d) Who reported it"}}},
        "channel": {"type": "string", "title": "发起方式", "oneOf": [
            {"const": "phone", "title": "电话", "x-translations": {"en": {"title": "Phone"}}},
            {"const": "verbal", "title": "口头"},  # not translated: stays as written
        ]},
        "steps": {"type": "array", "title": "步骤", "items": {"type": "object", "properties": {
            "action": {"type": "string", "title": "操作", "x-translations": {"en": {"title": "Action"}}}}}},
    },
}


def test_localized_takes_each_translated_text_and_keeps_the_rest() -> None:
    en = localized(SCHEMA, "en")
    assert en["title"] == "Report an incident"
    assert en["properties"]["reporter_name"]["title"] == "Reporter"
    assert en["properties"]["reporter_name"]["description"] == "d) Who reported it"
    assert choices(en["properties"]["channel"]) == [("phone", "Phone"), ("verbal", "口头")]
    assert en["properties"]["channel"]["title"] == "发起方式"  # no translation given
    assert en["properties"]["steps"]["items"]["properties"]["action"]["title"] == "Action"
    assert "x-translations" not in json.dumps(en)
    # Validation keywords are untouched, and the deployed schema itself is never changed.
    assert en["properties"]["reporter_name"]["type"] == "string"
    assert SCHEMA["properties"]["reporter_name"]["title"] == "事件报告人"


def test_a_language_without_translations_shows_the_form_as_written() -> None:
    zh = localized(SCHEMA, "zh_CN")
    assert zh["title"] == "事件发起"
    assert choices(zh["properties"]["channel"]) == [("phone", "电话"), ("verbal", "口头")]


def test_localized_is_computed_once_per_schema_and_language() -> None:
    assert localized(SCHEMA, "en") is localized(SCHEMA, "en")
    assert localized(SCHEMA, "en") is not localized(SCHEMA, "zh_CN")


def test_choice_labels_follow_the_language() -> None:
    assert choice_labels({"start": SCHEMA}, "en")["channel"] == {"phone": "Phone", "verbal": "口头"}
    assert choice_labels({"start": SCHEMA}, "zh_CN")["channel"] == {"phone": "电话", "verbal": "口头"}


@pytest.mark.parametrize(("translations", "message"), [
    ("Reporter", "x-translations must be an object of languages"),
    ({"english": {"title": "Reporter"}}, "'english' is not a language code"),
    ({"en": "Reporter"}, "x-translations.en must be an object with a title and/or a description"),
    ({"en": {}}, "x-translations.en must be an object with a title and/or a description"),
    ({"en": {"label": "Reporter"}}, "x-translations.en.label: only title and description are translated"),
    ({"en": {"title": 7}}, "x-translations.en.title: only title and description are translated, as text"),
    ({"en": {"title": "  "}}, "x-translations.en.title: only title and description are translated, as text"),
])
def test_deploy_refuses_malformed_translations_and_names_the_place(translations: object, message: str) -> None:
    schema = {"type": "object", "properties": {"reporter_name": {
        "type": "string", "title": "事件报告人", "x-translations": translations}}}
    loaded, problems = validate_form_schema("incident/start.schema.json", json.dumps(schema).encode())
    assert loaded is None
    assert len(problems) == 1
    assert "form incident/start.schema.json: /properties/reporter_name: " in problems[0].message
    assert message in problems[0].message


def test_well_formed_translations_deploy() -> None:
    loaded, problems = validate_form_schema("x/start.schema.json", json.dumps(SCHEMA).encode())
    assert problems == [] and loaded == SCHEMA


def _texts(node: object, path: str = "") -> list[tuple[str, str, str, object]]:
    """(path, key, text, node's English text for key) for every title and description in a schema."""
    found: list[tuple[str, str, str, object]] = []
    if isinstance(node, list):
        for i, item in enumerate(node):
            found += _texts(item, f"{path}/{i}")
    elif isinstance(node, dict):
        english = (node.get("x-translations") or {}).get("en") or {}
        for key in ("title", "description"):
            if isinstance(node.get(key), str):
                found.append((path or "/", key, node[key], english.get(key)))
        for key, value in node.items():
            if key != "x-translations":
                found += _texts(value, f"{path}/{key}")
    return found


def test_every_form_of_the_repository_speaks_english_too() -> None:
    """Each title and description of forms/ has an English text (so English users read their forms)."""
    files = sorted(FORMS.glob("*/*.schema.json"))
    assert len(files) > 50
    missing, not_english = [], []
    for path in files:
        for where, key, text, english in _texts(json.loads(path.read_text(encoding="utf-8"))):
            name = f"{path.relative_to(FORMS)}{where} {key} {text!r}"
            if not english:
                missing.append(name)
            elif CJK.search(english):
                not_english.append(f"{name}: {english!r}")
    assert not missing, f"{len(missing)} texts without English, e.g. {missing[:5]}"
    assert not not_english, not_english[:5]
