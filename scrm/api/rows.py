"""A list serializer that renders a page's rows without DRF's per-field machinery.

``Serializer.to_representation`` walks the fields of every row through ``get_attribute``
(with its exception handling and callable checks) and ``to_representation``, several method
calls per field; for a page of 50 rows of 16 fields that is most of the time the endpoint
spends in Python. ``FastListSerializer`` plans the child's readable fields and renders each
row with a plain ``getattr`` per field (a chain of them for a dotted source), keeping the
value as it is when it already has the type the field would produce (a ``str`` for a
``CharField`` or for a choice whose stored value is its representation, an ``int`` for an
``IntegerField``, a list of ``str`` for a ``ListField`` of them, …) and calling the field's
own ``to_representation`` otherwise (dates, JSON). Anything the plan does not cover —
missing attributes, a ``None`` on the way of a dotted source, callables, related fields other
than a plain primary key — goes through the field as DRF would, so the JSON is the same as
the child's ``to_representation`` gives.

Use it as ``Meta.list_serializer_class`` of a serializer whose fields are the same for every
instance of its class (not added or dropped per instance): the plan of a class whose fields
render from the value alone is built once per process, since building a ``ModelSerializer``'s
fields costs more than rendering a page of rows. The fast path applies when the child does not
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


def _iso_converter(field):
    """For a ``DateTimeField`` rendering ISO 8601 in the current time zone, its conversion
    with the time zone looked up once per page; None for any other field."""
    if type(field).to_representation is not fields.DateTimeField.to_representation:
        return None
    output_format = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if output_format is None or output_format.lower() != ISO_8601:
        return None
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    if zone is None:
        return None

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
    return type(serializer).to_representation in _PLAIN_REPRESENTATIONS


def _kept_type(field):
    """The type a value keeps unchanged through the field's ``to_representation``."""
    method = type(field).to_representation
    if method is fields.ChoiceField.to_representation and all(
        type(key) is str and key == value for key, value in field.choice_strings_to_values.items()
    ):
        return str  # a choice's stored value is its representation
    if method is fields.ListField.to_representation:
        child = getattr(field, "child", None)
        if type(child).to_representation is fields.CharField.to_representation:
            return list  # of str: checked per value
        return None
    return _KEEPS.get(method)


# Fields that render from the value alone (nothing from the parent serializer, its context or
# the request), so one instance can serve every page: the plan of a serializer class made of
# these is built once per process.
_CONTEXT_FREE = (
    fields.BooleanField,
    fields.CharField,
    fields.ChoiceField,
    fields.DateTimeField,
    fields.DateField,
    fields.DecimalField,
    fields.FloatField,
    fields.IntegerField,
    fields.JSONField,
    fields.ListField,
    fields.DictField,
    fields.UUIDField,
    fields.ReadOnlyField,
    relations.PrimaryKeyRelatedField,
)
_CONTEXT_BOUND = (
    fields.SerializerMethodField,
    fields.HiddenField,
    relations.HyperlinkedRelatedField,
)
_METHOD = "method"  # kept type of a SerializerMethodField: the current serializer's method


def _plan(serializer, top: bool = True) -> tuple[list[tuple], bool]:
    """Per readable field: (name, field, attributes or None: the slow path, kept type or
    None, nested plan or None); and whether the plan depends on nothing but the serializer's
    class. A nested plan's attributes lead to the nested serializer's object (none: the row
    itself, ``source="*"``)."""
    model = getattr(getattr(serializer, "Meta", None), "model", None)
    plan = []
    context_free = type(serializer).get_fields in _DEFAULT_GET_FIELDS
    for field in serializer._readable_fields:
        attrs = kept = nested = None
        source = field.source_attrs
        if isinstance(field, serializers.BaseSerializer):
            if type(field).to_representation is serializers.Serializer.to_representation:
                nested, nested_free = _plan(field, top=False)
                attrs = tuple(source)
                context_free = context_free and nested_free
            else:
                context_free = False
        elif isinstance(field, relations.PrimaryKeyRelatedField):
            if field.pk_field is None and len(source) == 1 and model is not None:
                try:  # customer -> customer_id
                    attrs = (model._meta.get_field(source[0]).attname,)
                except FieldDoesNotExist:  # not a model field: the slow path
                    attrs = None
                kept = int  # anything else (a non-integer key): the slow path
        elif (
            top
            and type(field) is fields.SerializerMethodField
            and type(serializer).to_representation in _PLAIN_REPRESENTATIONS
        ):
            kept = _METHOD  # the page's serializer's own method, bound per page
        elif source:
            attrs = tuple(source)
            kept = _kept_type(field)
        if (
            not isinstance(field, serializers.BaseSerializer)
            and kept is not _METHOD
            and (isinstance(field, _CONTEXT_BOUND) or not isinstance(field, _CONTEXT_FREE))
        ):
            context_free = False
        plan.append((field.field_name, field, attrs, kept, nested))
    return plan, context_free


_DEFAULT_GET_FIELDS = (serializers.ModelSerializer.get_fields, serializers.Serializer.get_fields)
_PLAIN_REPRESENTATIONS = (
    serializers.Serializer.to_representation,
    RowFinishing.to_representation,
)
_PLANS: dict[type, list[tuple]] = {}


def _class_plan(serializer) -> list[tuple]:
    """The serializer's plan, built once per class when it depends on nothing else (building
    a serializer's fields costs more than rendering a page of rows)."""
    cls = type(serializer)
    plan = _PLANS.get(cls)
    if plan is None:
        plan, context_free = _plan(serializer)
        if context_free:
            _PLANS[cls] = plan
    return plan


def _bind(plan: list[tuple], serializer=None) -> list[tuple]:
    """The plan for one page: (name, field, attributes, kept type, convert or None, nested)
    with dates converted in the time zone current now and methods of ``serializer`` (the
    page's own, with its context)."""
    bound = []
    for name, field, attrs, kept, nested in plan:
        if kept is _METHOD:
            convert = getattr(serializer, field.method_name)
        elif attrs is None or nested is not None or isinstance(field, relations.RelatedField):
            convert = None
        else:
            convert = _iso_converter(field) or field.to_representation
        bound.append(
            (name, field, attrs, kept, convert, _bind(nested) if nested is not None else None)
        )
    return bound


def _row(plan: list[tuple], instance) -> dict:
    ret = {}
    for name, field, attrs, kept, convert, nested in plan:
        if kept is _METHOD:
            ret[name] = convert(instance)
            continue
        if attrs is not None:
            value = instance
            for attr in attrs:
                value = getattr(value, attr, _SLOW)
                if value is None or value is _SLOW:
                    break
            if value is None and len(attrs) == 1:
                ret[name] = None
                continue
            if value is not _SLOW and value is not None:
                if nested is not None:
                    ret[name] = _row(nested, value)
                    continue
                if type(value) is kept:
                    if kept is not list:
                        ret[name] = value
                        continue
                    if all(type(item) is str for item in value):
                        ret[name] = list(value)
                        continue
                if convert is not None and not callable(value):
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
        plan = _bind(_class_plan(child), child)
        if type(child).to_representation is RowFinishing.to_representation:
            finish = child.finish_row
            return [finish(item, _row(plan, item)) for item in iterable]
        return [_row(plan, item) for item in iterable]
