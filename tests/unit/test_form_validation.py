"""Server-side form validation: per-field errors, with validators reused per schema (and never mixed up)."""
from __future__ import annotations

import pytest

from app.services import forms
from app.services.errors import ValidationFailed

NEEDS_X = {"type": "object", "required": ["x"], "properties": {"x": {"type": "string", "minLength": 1}}}
NEEDS_Y = {"type": "object", "required": ["y"], "properties": {"y": {"type": "integer", "maximum": 3}}}


def _errors(schema: dict, data: dict) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        forms.validate(schema, data)
    return caught.value.errors


def test_each_schema_gets_its_own_errors_however_often_it_is_used(english):
    for _ in range(3):
        assert set(_errors(NEEDS_X, {})) == {"x"}
        assert set(_errors(NEEDS_Y, {"y": 9})) == {"y"}
        assert forms.validate(NEEDS_X, {"x": "ok"}) == {"x": "ok"}
        assert forms.validate(NEEDS_Y, {"y": 2}) == {"y": 2}


def test_a_cached_validator_is_used_only_for_its_own_schema_object(english):
    schema = {"type": "object", "required": ["z"], "properties": {"z": {"type": "string"}}}
    # Pretend another schema once lived at this id (ids are reused after a dict is freed).
    forms._VALIDATORS[id(schema)] = (dict(NEEDS_X), forms._validator(NEEDS_X))
    try:
        assert set(_errors(schema, {"x": "ok"})) == {"z"}
    finally:
        forms._VALIDATORS.pop(id(schema), None)


def test_the_cache_stays_bounded():
    schemas = [{"type": "object", "title": str(i)} for i in range(forms._VALIDATORS_MAX + 10)]
    for schema in schemas:
        forms.validate(schema, {})
    assert len(forms._VALIDATORS) <= forms._VALIDATORS_MAX
