"""JSON Schema forms: server-side validation and conversion of HTML form posts to typed data."""
from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import jsonschema
from flask_babel import gettext as _

from ..engine.definitions import TRANSLATED, TRANSLATIONS
from .errors import ValidationFailed

_FORMAT_CHECKER = jsonschema.Draft202012Validator.FORMAT_CHECKER
# Validators by schema identity: building one resolves the schema's references afresh, which cost more than
# validating a form. Schemas live as long as their compiled version (which is cached); the entry keeps the
# schema itself, so an id reused after a schema is freed cannot return the wrong validator.
_VALIDATORS: dict[int, tuple[dict[str, Any], jsonschema.protocols.Validator]] = {}
_VALIDATORS_MAX = 512


def _validator(schema: dict[str, Any]) -> jsonschema.protocols.Validator:
    hit = _VALIDATORS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    validator = jsonschema.Draft202012Validator(schema, format_checker=_FORMAT_CHECKER)
    if len(_VALIDATORS) >= _VALIDATORS_MAX:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)
    return validator


# Labels in other languages live in the form itself, beside the text they translate, so they are versioned
# and deployed with it: {"title": "报告人", "x-translations": {"en": {"title": "Reporter"}}} on any node.
_LOCALIZED: dict[tuple[int, str], tuple[dict[str, Any], dict[str, Any]]] = {}


def localized(schema: dict[str, Any], language: str) -> dict[str, Any]:
    """The schema with titles and descriptions in `language` where the form translates them (for display only)."""
    hit = _LOCALIZED.get((id(schema), language))
    if hit is not None and hit[0] is schema:
        return hit[1]
    out = _localize(schema, language)
    if len(_LOCALIZED) >= _VALIDATORS_MAX:
        _LOCALIZED.clear()
    _LOCALIZED[(id(schema), language)] = (schema, out)
    return out


def _localize(node: Any, language: str) -> Any:
    if isinstance(node, list):
        return [_localize(v, language) for v in node]
    if not isinstance(node, dict):
        return node
    out = {k: _localize(v, language) for k, v in node.items() if k != TRANSLATIONS}
    texts = node.get(TRANSLATIONS)
    texts = texts.get(language) if isinstance(texts, dict) else None
    if isinstance(texts, dict):  # deployed forms are checked (engine.definitions); a preview may not be
        out.update({k: texts[k] for k in TRANSLATED if isinstance(texts.get(k), str) and texts[k]})
    return out


def field_order(schema: dict[str, Any]) -> list[str]:
    """Fields in display order: x-order first, then the rest as declared."""
    props = list((schema.get("properties") or {}).keys())
    order = [f for f in schema.get("x-order", []) if f in props]
    return order + [f for f in props if f not in order]


def choices(prop: dict[str, Any]) -> list[tuple[Any, str]]:
    """(value, label) pairs of an enumerated property (oneOf/const or enum)."""
    if "oneOf" in prop:
        return [(c.get("const"), c.get("title") or str(c.get("const"))) for c in prop["oneOf"] if "const" in c]
    if "enum" in prop:
        return [(v, str(v)) for v in prop["enum"]]
    items = prop.get("items") or {}
    if prop.get("type") == "array" and ("oneOf" in items or "enum" in items):
        return choices(items)
    return []


def system_values(schema: dict[str, Any], actor: Any) -> dict[str, Any]:
    """Values the system fills in for read-only fields marked with "x-source": "actor.<attribute>"."""
    sources = {
        "actor.desk_tier": lambda: actor.tier("service_desk"),
        "actor.username": lambda: actor.username,
        "actor.organisation": lambda: actor.organisation.code,
    }
    out = {}
    for name, prop in (schema.get("properties") or {}).items():
        source = sources.get(str(prop.get("x-source")))
        if prop.get("readOnly") and source is not None:
            value = source()
            if value is not None:
                out[name] = value
    return out


def choice_labels(schemas: dict[str, dict[str, Any]], language: str) -> dict[str, dict[str, str]]:
    """Field -> value -> label, gathered from all forms of a version, to show codes as people read them."""
    labels: dict[str, dict[str, str]] = {}
    for schema in schemas.values():
        for name, prop in (localized(schema, language).get("properties") or {}).items():
            for value, label in choices(prop):
                labels.setdefault(name, {})[str(value)] = label
    return labels


def _message(error: jsonschema.ValidationError) -> str:
    kind = error.validator
    if kind == "required":
        return _("This field is required.")
    if kind in {"type"}:
        return _("Enter a value of the right kind.")
    if kind in {"enum", "oneOf", "const"}:
        return _("Choose one of the offered values.")
    if kind == "maxLength":
        return _("At most %(n)s characters.", n=error.validator_value)
    if kind == "minLength":
        return _("This field is required.") if error.validator_value == 1 else _(
            "At least %(n)s characters.", n=error.validator_value)
    if kind == "minimum":
        return _("Must be at least %(n)s.", n=error.validator_value)
    if kind == "maximum":
        return _("Must be at most %(n)s.", n=error.validator_value)
    if kind == "format":
        formats = {"date-time": _("date and time"), "date": _("date"), "email": _("e-mail address"),
                   "ipv4": _("IPv4 address"), "uri": _("web address")}
        return _("Enter a valid %(fmt)s.", fmt=formats.get(error.validator_value, error.validator_value))
    if kind == "additionalProperties":
        return _("Unexpected field.")
    return error.message


def validate(schema: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """Validate submitted data against the form's schema; raise ValidationFailed with per-field errors."""
    validator = _validator(schema)
    errors: dict[str, list[str]] = {}
    for error in validator.iter_errors(data):
        if error.validator == "required":
            # jsonschema reports one error per missing field, each carrying the whole required list.
            for name in error.validator_value:
                if name not in (error.instance or {}) and _message(error) not in errors.get(name, []):
                    errors.setdefault(name, []).append(_message(error))
            continue
        if error.validator == "additionalProperties":
            extra = set(error.instance or {}) - set(error.schema.get("properties") or {})
            for name in sorted(extra):
                errors.setdefault(name, []).append(_message(error))
            continue
        name = str(error.absolute_path[0]) if error.absolute_path else "__all__"
        errors.setdefault(name, []).append(_message(error))
    if errors:
        raise ValidationFailed(_("Please correct the marked fields."), errors)
    return data


def coerce_post(schema: dict[str, Any], form: Any, tz: str = "Asia/Shanghai") -> dict[str, Any]:
    """Turn an HTML form post (a MultiDict) into typed JSON data following the schema.

    Values that cannot be converted are kept as strings so validation reports them beside the field.
    """
    data: dict[str, Any] = {}
    for name in field_order(schema):
        prop = schema["properties"][name]
        if prop.get("readOnly"):
            continue
        kind = prop.get("type")
        if kind == "boolean":
            raw = form.get(name)
            if raw in (None, ""):
                # Booleans are yes/no radios, where sending nothing means "not answered" (validation says so
                # where an answer is required); only an explicit checkbox widget means "no" when unticked.
                if prop.get("x-widget") == "checkbox":
                    data[name] = False
                continue
            data[name] = raw in {"true", "on", "1", "yes"}
            continue
        if kind == "array" and (prop.get("items") or {}).get("type") == "object":
            data[name] = _rows(name, prop["items"], form)
            continue
        if kind == "array":
            values = [v for v in form.getlist(name) if v != ""]
            if len(values) == 1 and "\n" in values[0]:
                values = [v.strip() for v in values[0].splitlines() if v.strip()]
            item_type = (prop.get("items") or {}).get("type")
            data[name] = [_convert(v, item_type) for v in values]
            continue
        raw = form.get(name)
        if raw is None or raw == "":
            continue
        if kind == "string" and prop.get("format") == "date-time":
            data[name] = _datetime(raw, tz)
        else:
            data[name] = _convert(raw, kind)
    return data


def _rows(name: str, item: dict[str, Any], form: Any) -> list[dict[str, Any]]:
    """Rows of a table widget posted as <name>-<row>-<field>; rows left entirely empty are dropped."""
    rows: dict[int, dict[str, Any]] = {}
    for key in form.keys():
        parts = key.split("-")
        if len(parts) != 3 or parts[0] != name or not parts[1].isdigit():
            continue
        value = form.get(key)
        if value not in (None, ""):
            field = parts[2]
            rows.setdefault(int(parts[1]), {})[field] = _convert(
                value, ((item.get("properties") or {}).get(field) or {}).get("type"))
    return [rows[i] for i in sorted(rows)]


def _convert(raw: str, kind: str | None) -> Any:
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    return raw.strip() if isinstance(raw, str) and kind == "string" else raw


def _datetime(raw: str, tz: str) -> str:
    """datetime-local inputs carry no zone: read them in the user's zone, store ISO 8601 with offset."""
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return raw
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    return value.isoformat()
