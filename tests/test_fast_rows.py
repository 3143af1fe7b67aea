"""The list serializers' fast path (``scrm.api.rows``) renders each row exactly as the
child serializer's own ``to_representation`` does: same keys, order, values and types."""

from __future__ import annotations

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder
from django.utils import timezone

from customers import selectors
from customers.models import Advocate, Customer, Friendship
from customers.serializers import (
    AdvocateSerializer,
    CustomerSerializer,
    FriendshipSerializer,
)
from interactions.models import Interaction
from interactions.serializers import InteractionSerializer
from scrm.api.rows import FastListSerializer
from tests.factories import AdvocateFactory, BrandFactory, CustomerFactory
from tests.graph import befriend, staff_caller

pytestmark = pytest.mark.django_db


def same(serializer_class, rows, **kwargs):
    many = serializer_class(rows, many=True, **kwargs)
    assert isinstance(many, FastListSerializer)
    one_by_one = [serializer_class(row, **kwargs).data for row in rows]
    fast = list(many.data)
    assert rows and len(fast) == len(rows)
    for a, b in zip(fast, one_by_one, strict=True):
        assert list(a) == list(b)
        assert json.dumps(a, cls=DjangoJSONEncoder) == json.dumps(b, cls=DjangoJSONEncoder)
    return fast


def test_customer_rows_are_rendered_as_the_serializer_does_phone_masked():
    brand = BrandFactory()
    author = CustomerFactory(brand=brand, tags=["vip"], phone="13812345678")
    friends = CustomerFactory.create_batch(3, brand=brand, phone="")
    befriend(author, friends)
    AdvocateFactory(brand=brand, customer=friends[0])
    rows = list(selectors.customer_list(caller=staff_caller(brand.pk)))
    fast = same(CustomerSerializer, rows, mask_phone=True)
    assert {row["is_advocate"] for row in fast} == {True, False}
    assert "13812345678" not in json.dumps(fast)
    same(CustomerSerializer, rows)  # unmasked: the phone as stored
    same(CustomerSerializer, list(Customer.objects.filter(brand=brand)))  # no annotation
    with timezone.override("Asia/Shanghai"):  # dates in the current time zone, not UTC
        shanghai = same(CustomerSerializer, rows)
    assert shanghai[0]["created_at"].endswith("+08:00")

    same(FriendshipSerializer, list(Friendship.objects.filter(brand=brand)))
    advocates = list(Advocate.objects.filter(brand=brand).select_related("customer"))
    same(AdvocateSerializer, advocates)


def test_interaction_rows_are_rendered_as_the_serializer_does():
    from interactions.services import interactions_ingest

    brand = BrandFactory()
    a, b = CustomerFactory.create_batch(2, brand=brand)
    interactions_ingest(
        caller=staff_caller(brand.pk),
        events=[
            {"event_id": "e1", "type": "message", "actor": a.pk, "target": b.pk,
             "occurred_at": "2026-01-02T03:04:05+08:00", "payload": {"x": [1, "二"]}},
            {"event_id": "e2", "type": "message", "actor": b.pk, "target": a.pk,
             "occurred_at": "2026-01-02T03:04:06Z"},
        ],
    )  # fmt: skip
    same(InteractionSerializer, list(Interaction.objects.filter(brand=brand)))
