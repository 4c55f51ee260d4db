"""Serializer building blocks shared by every API: strict objects, strings, ids and integers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.settings import api_settings

NON_FIELD_ERRORS_KEY = api_settings.NON_FIELD_ERRORS_KEY


def json_type(value: Any) -> str:
    """What a parsed JSON value is called in JSON, for error messages an API client reads."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list | tuple) else "object" if isinstance(value, Mapping) else "value"


class StrictSerializer(serializers.Serializer):
    """Rejects unknown fields so a typo is an error, not a silently ignored value.

    The check runs in ``to_internal_value`` so it also applies to nested serializers (which
    have no ``initial_data``) and is reported together with the other field errors. A value
    that is not an object is an error on the field itself (``profile``), not on
    ``profile.non_field_errors``.
    """

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            error = [ErrorDetail(f"Expected an object, got {json_type(data)}.", code="invalid")]
            # Nested: the error belongs to the field; top level: DRF needs a mapping.
            raise serializers.ValidationError(error if self.parent is not None else {NON_FIELD_ERRORS_KEY: error})
        errors: dict[str, Any] = {}
        attrs: dict[str, Any] = {}
        try:
            attrs = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if not isinstance(exc.detail, dict):
                raise
            errors.update(exc.detail)
        for name in sorted(set(data) - set(self.fields)):
            errors[name] = [ErrorDetail("Unknown field.", code="unknown")]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class StrictStringMixin:
    """Only a JSON string is a string: DRF's CharField would silently turn a number into one."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")  # type: ignore[attr-defined]
        return super().to_internal_value(data)  # type: ignore[misc]


class TextField(StrictStringMixin, serializers.CharField):
    pass


class TextRegexField(StrictStringMixin, serializers.RegexField):
    pass


class UUIDStringField(StrictStringMixin, serializers.UUIDField):
    """A UUID written as a JSON string: DRF's UUIDField would read 12345 as
    00000000-0000-0000-0000-000000003039."""


class StrictIntegerField(serializers.IntegerField):
    """Only a JSON integer: DRF's IntegerField would take "5", 5.0 and true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)
