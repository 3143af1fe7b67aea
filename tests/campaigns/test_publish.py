from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from campaigns.fatigue.rules import ALL_RULES
from campaigns.models import Delivery, Post, PostStatus, PublishDecision
from campaigns.services.publish import post_publish
from customers.models import Friendship
from interactions.models import Tie
from tests.campaigns.factories import PostFactory
from tests.factories import CustomerFactory
from tests.graph import (
    author_with_friends,
    befriend,
    customer_caller,
    published_post,
    set_policy,
)

pytestmark = pytest.mark.django_db


def tie(source, target, **flags):
    return Tie.objects.create(brand_id=source.brand_id, source=source, target=target, **flags)


@time_machine.travel(datetime(2024, 5, 15, 4, 0, tzinfo=UTC), tick=False)  # noon in Shanghai
def test_fan_out_to_a_few_hundred_friends_with_every_suppression(brand):
    # given an author with 300 friends, some of whom blocked, reported, muted, hid or opted out
    # (and a policy without the commercial-share rule, so a first commercial post may go out)
    set_policy(brand, enabled_rules=sorted(ALL_RULES - {"sender_commercial_share"}))
    author, friends = author_with_friends(brand, 300)
    now = timezone.now()
    tie(friends[0], author, blocked_at=now)
    tie(friends[1], author, reported_at=now)
    tie(friends[2], author, muted_at=now)
    tie(friends[3], author, last_hidden_at=now - timedelta(days=1))
    tie(friends[4], author, last_hidden_at=now - timedelta(days=31))  # expired: delivered
    tie(author, friends[5], blocked_at=now)  # the author blocked them
    tie(friends[6], author, unfriended_at=now - timedelta(days=2))  # re-friended since
    tie(author, friends[7], muted_at=now)  # the author muted them: not a reason
    for friend in friends[8:18]:
        friend.marketing_consent = False
        friend.save()
    stranger = CustomerFactory(brand=brand)  # not a friend: never a recipient
    ended = CustomerFactory(brand=brand)
    befriend(author, [ended])
    Friendship.objects.filter(customer_low_id=min(author.pk, ended.pk)).filter(
        customer_high_id=max(author.pk, ended.pk)
    ).update(ended_at=now)
    post = PostFactory(author=author, commercial=True)

    # when the author publishes
    answer = post_publish(caller=customer_caller(author), post=post)

    # then every current friend has exactly one delivery with the right verdict
    assert answer == {
        "decision": "published",
        "reasons": [],
        "delivered": 300 - 16,
        "suppressed": {
            "blocked": 2,
            "hidden_post": 1,
            "muted": 1,
            "consent": 10,
            "reported": 1,
            "unfriended": 1,
        },
        "deferred_until": None,
    }
    rows = dict(Delivery.objects.filter(post=post).values_list("recipient_id", "reason"))
    assert set(rows) == {f.pk for f in friends}
    assert stranger.pk not in rows and ended.pk not in rows
    assert rows[friends[0].pk] == "blocked"
    assert rows[friends[5].pk] == "blocked"
    assert rows[friends[4].pk] == ""
    assert rows[friends[7].pk] == ""
    post.refresh_from_db()
    assert post.status == PostStatus.PUBLISHED
    assert post.published_at is not None
    decision = PublishDecision.objects.get(post=post)
    assert decision.delivered == 284
    assert decision.suppressed == answer["suppressed"]
    assert decision.decided_by == f"customer:{author.pk}"


def test_non_commercial_post_ignores_marketing_consent(brand):
    author, friends = author_with_friends(brand, 3)
    friends[0].marketing_consent = False
    friends[0].save()
    post = PostFactory(author=author, commercial=False)

    answer = post_publish(caller=customer_caller(author), post=post)

    assert answer["delivered"] == 3
    assert answer["suppressed"] == {}


def test_preview_answers_the_same_and_writes_nothing(brand):
    author, friends = author_with_friends(brand, 40)
    tie(friends[0], author, blocked_at=timezone.now())
    tie(friends[1], author, muted_at=timezone.now())
    post = PostFactory(author=author)

    preview = post_publish(caller=customer_caller(author), post=post, preview=True)

    assert Delivery.objects.count() == 0
    assert PublishDecision.objects.count() == 0
    post.refresh_from_db()
    assert post.status == PostStatus.DRAFT
    assert post.published_at is None
    published = post_publish(caller=customer_caller(author), post=post)
    assert preview == published
    assert published["delivered"] == 38


def test_publish_preview_endpoint_writes_nothing(customer_client, customer, brand):
    befriend(customer, CustomerFactory.create_batch(5, brand=brand))
    post = PostFactory(author=customer)

    response = customer_client.post(f"/api/v1/posts/{post.pk}/publish-preview/")

    assert response.status_code == 200
    assert response.json() == {
        "decision": "published",
        "reasons": [],
        "delivered": 5,
        "suppressed": {},
        "deferred_until": None,
    }
    assert not Delivery.objects.exists()
    assert not PublishDecision.objects.exists()
    assert Post.objects.get(pk=post.pk).status == PostStatus.DRAFT


def test_blocked_and_muted_pairs_are_never_delivered_after_ingest(brand):
    # given a published post, then one friend mutes the author and one blocks them
    from interactions.services import interactions_ingest

    author, friends = author_with_friends(brand, 4)
    published_post(author)
    now = timezone.now().isoformat()
    results = interactions_ingest(
        caller=customer_caller(friends[0]),
        events=[{"event_id": "m1", "type": "mute_author", "target": author.pk, "occurred_at": now}],
    )
    results += interactions_ingest(
        caller=customer_caller(friends[1]),
        events=[{"event_id": "b1", "type": "block", "target": author.pk, "occurred_at": now}],
    )
    assert [r.status for r in results] == ["created", "created"]

    # when the author publishes again
    second = PostFactory(author=author)
    answer = post_publish(caller=customer_caller(author), post=second)

    # then the next post skips them
    assert answer["suppressed"] == {"blocked": 1, "muted": 1}
    delivered = set(
        Delivery.objects.filter(post=second, status="delivered").values_list(
            "recipient_id", flat=True
        )
    )
    assert delivered == {friends[2].pk, friends[3].pk}


def test_publish_query_count_does_not_grow_with_friends(brand, django_assert_max_num_queries):
    small, _ = author_with_friends(brand, 2)
    big, _ = author_with_friends(brand, 200)
    for author in (small, big):
        post = PostFactory(author=author)
        # 15 with the one-time rebuild of the (empty) Redis counters from the ledger: 2 reads
        # and the brand's fatigue lock (savepoint, shared, rolled back to, exclusive)
        with django_assert_max_num_queries(15):
            post_publish(caller=customer_caller(author), post=post)
    assert Delivery.objects.count() == 202


def test_publish_answer_over_http_and_decision_stored(customer_client, customer, brand):
    befriend(customer, CustomerFactory.create_batch(3, brand=brand))
    created = customer_client.post("/api/v1/posts/", {"text": "hi"}, format="json").json()

    response = customer_client.post(f"/api/v1/posts/{created['id']}/publish/")

    assert response.status_code == 200
    assert response.json()["delivered"] == 3
    assert PublishDecision.objects.filter(post_id=created["id"], decision="published").exists()


def test_customer_cannot_publish_someone_elses_post_by_id(customer_client, brand):
    post = PostFactory(author=CustomerFactory(brand=brand))
    assert customer_client.post(f"/api/v1/posts/{post.pk}/publish/").status_code == 404
    assert not Delivery.objects.exists()
