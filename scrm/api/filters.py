"""Strict query filters: a bad or unknown filter value is a 400 naming the parameter.

django-filter on its own ignores parameters it does not know, reads ``?is_active=maybe`` as
"no filter", and accepts ids of other brands (an empty page that looks like "no rows").
``StrictFilterSet`` answers each of those with a 400 in the one error format instead.
"""

from __future__ import annotations

from datetime import UTC

import django_filters
from django import forms
from django.db import models
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

from scrm.tenancy.services import Caller

# Query parameters the pagination and rendering read, not filters.
PASS_THROUGH_PARAMS = frozenset({"cursor", "page_size", "format"})
MAX_ID = 2**63 - 1


class StrictBooleanField(forms.Field):
    """``true``/``false`` (also ``1``/``0``, ``yes``/``no``); anything else is invalid."""

    TRUE = frozenset({"true", "1", "yes"})
    FALSE = frozenset({"false", "0", "no"})

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError("Must be true or false.", code="invalid")


class StrictBooleanFilter(django_filters.BooleanFilter):
    field_class = StrictBooleanField


class UtcDateTimeField(django_filters.fields.IsoDateTimeField):
    """An ISO 8601 time with any offset Python accepts, turned into UTC: PostgreSQL refuses
    offsets beyond ±15:59 (a 503 if one reached it); a time that leaves the calendar once in
    UTC (``0001-01-01T00:00+10:00``) is invalid."""

    def to_python(self, value):
        value = super().to_python(value)
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError("Out of range in UTC.", code="invalid") from None


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcDateTimeField


class BrandIdFilter(django_filters.NumberFilter):
    """An integer id of a ``model`` row that must belong to the caller's brand."""

    field_class = forms.IntegerField

    def __init__(self, *args, model: type[models.Model], **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)
        self.scoped_model = model


class StrictFilterForm(forms.Form):
    filterset: StrictFilterSet | None = None

    def clean(self):
        cleaned = super().clean()
        allowed = set(self.fields) | PASS_THROUGH_PARAMS
        unknown = sorted(set(self.data) - allowed)
        if unknown:
            choices = ", ".join(sorted(self.fields)) or "none"
            for name in unknown:
                self._errors[name] = self.error_class(
                    [f"Unknown query parameter; filters here: {choices}."]
                )
        self._check_brand_ids(cleaned)
        return cleaned

    def _check_brand_ids(self, cleaned: dict) -> None:
        filterset = self.filterset
        request = getattr(filterset, "request", None)
        caller = getattr(request, "auth", None)
        if filterset is None or not isinstance(caller, Caller):
            return
        for name, filter_ in filterset.filters.items():
            value = cleaned.get(name)
            if not isinstance(filter_, BrandIdFilter) or value is None:
                continue
            found = filter_.scoped_model._default_manager.filter(brand_id=caller.brand_id, pk=value)
            if not found.exists():
                label = filter_.scoped_model._meta.verbose_name
                self.add_error(name, f"No {label} {value} in this brand.")


class StrictFilterSet(django_filters.FilterSet):
    """Base of every API filter set: unknown parameters, bad values and other brands' ids
    answer 400 naming the parameter (DjangoFilterBackend raises the form's errors)."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        models.BooleanField: {"filter_class": StrictBooleanFilter},
    }

    def get_form_class(self):
        fields = {name: filter_.field for name, filter_ in self.filters.items()}
        return type(f"{type(self).__name__}Form", (StrictFilterForm,), fields)

    @property
    def form(self):
        if not hasattr(self, "_form"):
            form = super().form
            form.filterset = self
        return self._form


def query_params_check(request, allowed: frozenset[str] | set[str] = frozenset()) -> None:
    """For views without a filter set: an unknown query parameter is a 400 naming it."""
    unknown = sorted(set(request.query_params) - set(allowed) - PASS_THROUGH_PARAMS)
    if unknown:
        known = ", ".join(sorted(allowed)) or "none"
        message = f"Unknown query parameter; parameters here: {known}."
        raise ValidationError({name: [message] for name in unknown})


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend; a request with no filter parameters (only a cursor, a page
    size) skips building and validating the filter set's form, which would change nothing:
    every filter leaves the queryset alone for an absent value and no parameter is unknown."""

    def filter_queryset(self, request, queryset, view):
        if request.query_params.keys() <= PASS_THROUGH_PARAMS:
            return queryset
        return super().filter_queryset(request, queryset, view)
