"""A list serializer that renders a page's rows without DRF's per-field machinery.

``Serializer.to_representation`` walks the fields of every row through ``get_attribute``
(with its exception handling and callable checks) and ``to_representation``, several method
calls per field; for a page of 50 rows of 16 fields that is most of the time the endpoint
spends in Python. ``FastListSerializer`` plans the child's readable fields once per page and
renders each row with a plain ``getattr`` per field, keeping the value as it is when it
already has the type the field would produce (a ``str`` for a ``CharField``, an ``int`` for
an ``IntegerField``, …) and calling the field's own ``to_representation`` otherwise (dates,
JSON, choices). Anything the plan does not cover — dotted sources, missing attributes,
callables, related fields other than a plain primary key — goes through the field as DRF
would, so the JSON is the same as the child's ``to_representation`` gives.

Use it as ``Meta.list_serializer_class``. The fast path applies when the child does not
override ``to_representation``, or overrides it only as ``RowFinishing`` does (the default
representation, then ``finish_row(instance, data)``); otherwise the rows go through the
child as usual. The OpenAPI schema is unaffected (the fields are the child's).
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import FieldDoesNotExist
from django.db.models.manager import BaseManager
from rest_framework import ISO_8601, fields, relations, serializers
from rest_framework.fields import SkipField
from rest_framework.settings import api_settings

_SLOW = object()  # no such attribute

# to_representation of these fields returns a value of exactly this type unchanged.
_KEEPS = {
    fields.CharField.to_representation: str,
    fields.IntegerField.to_representation: int,
    fields.BooleanField.to_representation: bool,
    fields.FloatField.to_representation: float,
}


class RowFinishing:
    """A serializer whose representation is the default one, then ``finish_row``."""

    def to_representation(self, instance):
        return self.finish_row(instance, super().to_representation(instance))

    def finish_row(self, instance, data: dict) -> dict:
        return data


def _converter(field):
    """The field's ``to_representation``; for a ``DateTimeField`` rendering ISO 8601 in the
    current time zone, the same conversion with the time zone looked up once per page."""
    method = type(field).to_representation
    if method is not fields.DateTimeField.to_representation:
        return field.to_representation
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() != ISO_8601:
        return field.to_representation
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if zone is None:
        return field.to_representation

    def datetime_iso(value):
        if type(value) is not datetime or value.utcoffset() is None:
            return field.to_representation(value)
        try:
            text = value.astimezone(zone).isoformat()
        except OverflowError:
            return field.to_representation(value)  # DRF's error
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return datetime_iso


def _plain(serializer) -> bool:
    method = type(serializer).to_representation
    return method is serializers.Serializer.to_representation or (
        method is RowFinishing.to_representation
    )


def _plan(serializer) -> list[tuple]:
    """Per readable field: (name, field, attribute or None, kept type or None, convert or
    None: the slow path, nested plan or None)."""
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    plan = []
    for field in serializer._readable_fields:
        attr = kept = convert = nested = None
        source = field.source_attrs
        if isinstance(field, serializers.BaseSerializer):
            plain = type(field).to_representation is serializers.Serializer.to_representation
            if source == [] and plain:
                nested = _plan(field)  # source="*": the row itself
        elif isinstance(field, relations.PrimaryKeyRelatedField):
            if field.pk_field is None and len(source) == 1 and model is not None:
                try:
                    attr = model._meta.get_field(source[0]).attname  # customer -> customer_id
                except FieldDoesNotExist:  # not a model field: the slow path
                    attr = None
                kept = int  # anything else (a non-integer key): the slow path
        elif len(source) == 1:
            attr = source[0]
            kept = _KEEPS.get(type(field).to_representation)
            convert = _converter(field)
        plan.append((field.field_name, field, attr, kept, convert, nested))
    return plan


def _row(plan: list[tuple], instance) -> dict:
    ret = {}
    for name, field, attr, kept, convert, nested in plan:
        if nested is not None:
            ret[name] = _row(nested, instance)
            continue
        if attr is not None:
            value = getattr(instance, attr, _SLOW)
            if value is None:
                ret[name] = None
                continue
            if type(value) is kept:
                ret[name] = value
                continue
            if convert is not None and value is not _SLOW and not callable(value):
                ret[name] = convert(value)
                continue
        try:  # as Serializer.to_representation does
            value = field.get_attribute(instance)
        except SkipField:
            continue
        check = value.pk if isinstance(value, relations.PKOnlyObject) else value
        ret[name] = None if check is None else field.to_representation(value)
    return ret


class FastListSerializer(serializers.ListSerializer):
    def to_representation(self, data):
        child = self.child
        if not _plain(child):
            return super().to_representation(data)
        iterable = data.all() if isinstance(data, BaseManager) else data
        plan = _plan(child)
        if type(child).to_representation is RowFinishing.to_representation:
            finish = child.finish_row
            return [finish(item, _row(plan, item)) for item in iterable]
        return [_row(plan, item) for item in iterable]
