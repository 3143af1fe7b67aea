"""Every list endpoint reads a page in a constant number of queries, however many rows the
page holds and however deep the page is (no per-row query: N+1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from customers.models import Advocate, Customer
from interactions.recompute import ties_recompute
from interactions.services import interactions_ingest
from tests.conftest import customer_client_for, staff_client_for
from tests.factories import BrandFactory, CustomerFactory
from tests.graph import befriend, published_post, staff_caller

pytestmark = pytest.mark.django_db


def build(brand, people: int):
    """``people`` consumers (tagged, some advocates) befriended by one author, who published
    ``people // 4 + 1`` posts; messages between neighbours; ties recomputed."""
    author = CustomerFactory(brand=brand, tags=["vip"])
    friends = CustomerFactory.create_batch(people, brand=brand, tags=["vip", "tea"])
    befriend(author, friends)
    for friend in friends[: max(1, people // 3)]:
        Advocate.objects.create(
            brand=brand, customer=friend, referral_code=f"R{friend.pk:09d}"[:10]
        )
    for _ in range(people // 4 + 1):
        published_post(author)
    now = timezone.now() - timedelta(hours=1)
    events = [
        {
            "event_id": f"m{i}",
            "type": "message",
            "actor": friends[i].pk,
            "target": friends[(i + 1) % people].pk if i % 2 else author.pk,
            "occurred_at": (now - timedelta(minutes=i)).isoformat(),
        }
        for i in range(people)
    ]
    interactions_ingest(caller=staff_caller(brand.pk), events=events)
    ties_recompute(brand_id=brand.pk)
    return author, friends


# Each list and the most queries one page of it takes: authentication (one: the staff token
# joined with its user, brand and the membership's role), the page with its annotations, the
# prefetches (ties: the pair rows and both people, and the brand's tie parameters; feed: the
# engagement counts) — and nothing per row.
ENDPOINTS = {
    "/api/v1/customers/": 2,
    "/api/v1/customers/?tag=vip": 2,
    "/api/v1/customers/?lifecycle_stage=lead": 2,
    "/api/v1/customers/?kind=consumer": 2,
    "/api/v1/customers/?is_advocate=true": 2,
    "/api/v1/customers/?search=a": 2,
    "/api/v1/friendships/": 2,
    "/api/v1/advocates/": 2,
    "/api/v1/interactions/": 2,
    "/api/v1/posts/": 2,
    "/api/v1/customers/{author}/ties/": 7,
    "/api/v1/customers/{author}/friends/": 3,
    "/api/v1/feed/?customer={friend}": 4,
}


def count_queries(client, path: str) -> tuple[int, int, int]:
    """Queries of the first page and of the page after it (page size 5), and the rows."""
    with CaptureQueriesContext(connection) as first:
        response = client.get(path + ("&" if "?" in path else "?") + "page_size=5")
    assert response.status_code == 200, (path, response.content[:300])
    body = response.json()
    following = 0
    if body.get("next"):
        with CaptureQueriesContext(connection) as second:
            assert client.get(body["next"]).status_code == 200
        following = len(second)
    return len(first), following, len(body["results"])


@pytest.mark.parametrize(("path", "most"), ENDPOINTS.items())
def test_a_list_page_takes_the_same_few_queries_for_few_or_many_rows(
    path, most, django_assert_max_num_queries
):
    # given a small brand (pages of 1–2 rows) and a bigger one (full pages, several of them)
    small, big = BrandFactory(), BrandFactory()
    counts = []
    for brand, people in ((small, 2), (big, 24)):
        author, friends = build(brand, people)
        client = staff_client_for(brand)
        counts.append(count_queries(client, path.format(author=author.pk, friend=friends[0].pk)))

    # then the page's query count does not grow with its rows nor with its depth
    (small_first, _, small_rows), (big_first, big_next, big_rows) = counts
    assert big_rows > small_rows or big_rows == 5
    assert small_first == big_first, counts
    assert big_next in (0, big_first), counts
    # and stays under the bound, a full page of 50 as well
    with django_assert_max_num_queries(most):
        client.get(path.format(author=author.pk, friend=friends[0].pk))


def test_customer_feed_page_takes_a_constant_number_of_queries(django_assert_max_num_queries):
    brand = BrandFactory()
    _, friends = build(brand, 24)
    client = customer_client_for(Customer.objects.get(pk=friends[0].pk))
    first, following, rows = count_queries(client, "/api/v1/feed/")
    assert rows == 5 and following in (0, first)
    with django_assert_max_num_queries(4):  # (no staff token to look up)
        client.get("/api/v1/feed/?page_size=50")
