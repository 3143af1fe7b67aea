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
from tests.conftest import customer_client_for, staff_client_for
from tests.factories import AdvocateFactory, BrandFactory, CustomerFactory
from tests.graph import befriend, staff_caller
from tests.test_list_queries import ENDPOINTS, build

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


def canonical(body: bytes) -> str:
    """The JSON's content with its key order: equal for equal documents however numbers are
    spelled (``1e-05`` and ``0.00001``)."""
    return json.dumps(json.loads(body), ensure_ascii=False)


def test_a_page_is_rendered_as_drfs_json_renderer_renders_it():
    from datetime import date, datetime
    from decimal import Decimal

    from django.utils.translation import gettext_lazy
    from rest_framework.renderers import JSONRenderer

    from scrm.api.fastjson import PageJSONRenderer

    moment = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=timezone.get_fixed_timezone(480))
    page = {
        "next": "http://testserver/api/v1/customers/?cursor=cD0xMg%3D%3D",
        "previous": None,
        "results": [
            {
                "id": 1,
                "text": '茶\u2028line\u2029end "quoted" \\ /',
                "at": moment,
                "utc": moment.astimezone(timezone.get_fixed_timezone(0)),
                "day": date(2026, 1, 2),
                "price": Decimal("12.50"),
                "label": gettext_lazy("Active"),
                "scores": {1: 0.5, "b": 1e-05, "c": [True, False, None]},
            }
        ],
    }
    drf = JSONRenderer().render(page, "application/json", {})
    fast = PageJSONRenderer().render(page, "application/json", {})
    assert canonical(fast) == canonical(drf)
    assert b"\\u2028" in fast and "\u2028".encode() not in fast  # escaped as DRF does
    # an integer beyond 64 bits, an indented rendering, a body that is not a page: DRF's own
    page["results"][0]["id"] = 2**70
    assert PageJSONRenderer().render(page, "application/json", {}) == JSONRenderer().render(
        page, "application/json", {}
    )
    indented = "application/json; indent=2"
    assert PageJSONRenderer().render(page, indented, {}) == JSONRenderer().render(
        page, indented, {}
    )
    assert PageJSONRenderer().render({"a": moment}) == JSONRenderer().render({"a": moment})


@pytest.mark.parametrize("path", [*ENDPOINTS, "/api/v1/feed/"])
def test_every_list_page_is_the_json_of_its_serializers(path):
    # given a brand with full pages of every list
    from rest_framework.renderers import JSONRenderer

    brand = BrandFactory()
    author, friends = build(brand, 12)
    if path == "/api/v1/feed/":
        client = customer_client_for(Customer.objects.get(pk=friends[0].pk))
    else:
        client = staff_client_for(brand)
    url = path.format(author=author.pk, friend=friends[0].pk)

    # when two pages are read (page size 5)
    response = client.get(url + ("&" if "?" in url else "?") + "page_size=5")
    assert response.status_code == 200, response.content[:300]
    following = client.get(response.json()["next"]) if response.json()["next"] else response

    # then each body is what DRF's JSON renderer gives for the serializers' data
    for page in (response, following):
        assert page.status_code == 200
        assert page.json()["results"]
        assert canonical(page.content) == canonical(JSONRenderer().render(page.data))


def test_post_and_feed_rows_are_rendered_as_the_serializers_do():
    from campaigns import selectors as campaign_selectors
    from campaigns.models import Post
    from campaigns.serializers import FeedItemSerializer, PostSerializer
    from interactions.services import interactions_ingest
    from tests.graph import published_post

    # given an author's posts delivered to a friend, one liked by that friend
    brand = BrandFactory()
    author = CustomerFactory(brand=brand)
    friend = CustomerFactory(brand=brand)
    befriend(author, [friend])
    posts = [published_post(author) for _ in range(3)]
    interactions_ingest(
        caller=staff_caller(brand.pk),
        events=[
            {"event_id": "l1", "type": "like", "actor": friend.pk, "post": posts[0].pk,
             "occurred_at": timezone.now().isoformat()},
        ],
    )  # fmt: skip

    # then posts and feed items (nested author, counts from the page's context) are the same
    same(PostSerializer, list(Post.objects.filter(brand=brand).select_related("author")))
    feed = list(campaign_selectors.feed_for(brand_id=brand.pk, customer_id=friend.pk))
    engagement = campaign_selectors.feed_engagement(deliveries=feed, viewer_id=friend.pk)
    rows = same(FeedItemSerializer, feed, context={"engagement": engagement})
    assert {row["liked_by_me"] for row in rows} == {True, False}
    assert rows[0]["author"] == {"id": author.pk, "display_name": author.display_name}
    with timezone.override("Asia/Shanghai"):
        same(FeedItemSerializer, feed, context={"engagement": engagement})
