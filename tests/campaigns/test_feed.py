import pytest
from django.utils import timezone

from campaigns.services.posts import post_withdraw
from interactions.models import Tie
from interactions.services import interactions_ingest
from tests.conftest import customer_client_for
from tests.factories import CustomerFactory
from tests.graph import befriend, customer_caller, published_post, staff_caller

pytestmark = pytest.mark.django_db

URL = "/api/v1/feed/"


@pytest.fixture
def reader(brand):
    return CustomerFactory(brand=brand, display_name="Reader")


def posts_for(reader, n, brand):
    """n authors, each a friend of ``reader``, each with one published post (oldest first)."""
    posts = []
    for i in range(n):
        author = CustomerFactory(brand=brand)
        befriend(author, [reader])
        posts.append(published_post(author, text=f"post {i}"))
    return posts


def test_feed_is_newest_first_and_cursor_paginated(reader, brand):
    posts = posts_for(reader, 5, brand)
    client = customer_client_for(reader)

    first = client.get(URL, {"page_size": 2}).json()
    second = client.get(first["next"]).json()
    third = client.get(second["next"]).json()

    seen = [item["post"] for page in (first, second, third) for item in page["results"]]
    assert seen == [p.pk for p in reversed(posts)]
    assert third["next"] is None
    assert first["results"][0]["text"] == "post 4"


def test_withdrawn_and_suppressed_posts_are_not_in_the_feed(reader, brand):
    posts = posts_for(reader, 3, brand)
    muted_author = CustomerFactory(brand=brand)
    befriend(muted_author, [reader])
    Tie.objects.create(brand=brand, source=reader, target=muted_author, muted_at=timezone.now())
    published_post(muted_author)
    post_withdraw(caller=customer_caller(posts[1].author), post=posts[1])

    items = customer_client_for(reader).get(URL).json()["results"]

    assert [item["post"] for item in items] == [posts[2].pk, posts[0].pk]


def test_counts_and_liked_by_me_with_unlike_subtracting(
    reader, brand, django_assert_max_num_queries
):
    author = CustomerFactory(brand=brand)
    others = CustomerFactory.create_batch(3, brand=brand)
    befriend(author, [reader, *others])
    post = published_post(author)
    now = timezone.now().isoformat()

    def event(eid, actor, kind):
        return {
            "event_id": eid,
            "type": kind,
            "actor": actor.pk,
            "post": post.pk,
            "occurred_at": now,
        }

    results = interactions_ingest(
        caller=staff_caller(brand.pk),
        events=[
            event("1", reader, "like"),
            event("2", others[0], "like"),
            event("3", others[1], "like"),
            event("4", others[1], "unlike"),
            event("5", others[2], "comment"),
            event("6", others[2], "comment"),
            event("7", others[0], "forward"),
        ],
    )
    assert {r.status for r in results} == {"created"}
    posts_for(reader, 10, brand)  # more items on the page: the query count must not grow

    with django_assert_max_num_queries(3):
        items = customer_client_for(reader).get(URL).json()["results"]
    item = next(i for i in items if i["post"] == post.pk)
    other_view = customer_client_for(others[1]).get(URL).json()["results"][0]

    assert (item["likes"], item["comments"], item["forwards"]) == (2, 2, 1)
    assert item["liked_by_me"] is True
    assert other_view["liked_by_me"] is False  # unliked
    assert item["author"]["id"] == author.pk


def test_staff_reads_a_customer_feed_with_customer_param(staff_client, reader, brand):
    posts_for(reader, 2, brand)
    assert len(staff_client.get(URL, {"customer": reader.pk}).json()["results"]) == 2
    missing = staff_client.get(URL)
    assert missing.status_code == 400
    assert "customer" in missing.json()["error"]["details"]
    assert staff_client.get(URL, {"customer": "abc"}).status_code == 400


def test_other_brand_staff_and_other_customer_cannot_read_the_feed(
    other_staff_client, other_customer_client, reader, brand
):
    posts_for(reader, 1, brand)

    foreign = other_staff_client.get(URL, {"customer": reader.pk})
    other = other_customer_client.get(URL, {"customer": reader.pk})
    own = other_customer_client.get(URL)

    assert foreign.status_code == 400
    assert other.status_code == 403
    assert own.json()["results"] == []


def test_oversized_page_is_400(staff_client, reader):
    assert staff_client.get(URL, {"customer": reader.pk, "page_size": 100000}).status_code == 400
