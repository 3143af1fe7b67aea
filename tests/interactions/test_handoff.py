"""New interactions reach the scoring queue in batches, after commit only (real Redis)."""

import base64
import json

import pytest
import redis
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from interactions.models import Interaction, ScoringPending
from interactions.services import interactions_ingest
from interactions.tasks import score_batch
from tests.graph import author_with_friends, published_post, staff_caller

pytestmark = pytest.mark.django_db


def scoring_queue() -> list[tuple[str, list[int]]]:
    """(task name, ids) of every message waiting in the Redis ``scoring`` queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        messages = [json.loads(raw) for raw in client.lrange("scoring", 0, -1)]
    finally:
        client.close()
    out = []
    for message in messages:
        args, _kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        out.append((message["headers"]["task"], args[0]))
    return sorted(out, key=lambda item: item[1][0])


def likes(post, friends, prefix="e"):
    return [
        {
            "event_id": f"{prefix}{i}",
            "type": "view",
            "actor": friend.pk,
            "post": post.pk,
            "occurred_at": timezone.now().isoformat(),
        }
        for i, friend in enumerate(friends)
    ]


def test_created_ids_are_queued_in_chunks_after_commit(
    brand, django_capture_on_commit_callbacks, monkeypatch
):
    # given chunks of 2 ids and a batch of 5 new events plus a duplicate
    monkeypatch.setitem(settings.SCRM, "SCORING_HANDOFF_CHUNK", 2)
    author, friends = author_with_friends(brand, 5)
    post = published_post(author)
    events = likes(post, friends)

    # when the batch is ingested, nothing is queued until the transaction commits
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        results = interactions_ingest(caller=staff_caller(brand.pk), events=events)
        assert scoring_queue() == []
    assert len(callbacks) == 1
    for callback in callbacks:
        callback()

    # then three tasks named interactions.score_batch carry the five new ids
    ids = sorted(Interaction.objects.values_list("id", flat=True))
    assert [r.status for r in results] == ["created"] * 5
    assert scoring_queue() == [
        ("interactions.score_batch", ids[0:2]),
        ("interactions.score_batch", ids[2:4]),
        ("interactions.score_batch", ids[4:5]),
    ]


def test_duplicates_queue_nothing(brand, django_capture_on_commit_callbacks):
    author, friends = author_with_friends(brand, 2)
    post = published_post(author)
    events = likes(post, friends)
    interactions_ingest(caller=staff_caller(brand.pk), events=events)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        interactions_ingest(caller=staff_caller(brand.pk), events=events)

    assert callbacks == []
    assert scoring_queue() == []


def test_nothing_is_queued_when_the_transaction_rolls_back(
    brand, django_capture_on_commit_callbacks
):
    author, friends = author_with_friends(brand, 3)
    post = published_post(author)

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        interactions_ingest(caller=staff_caller(brand.pk), events=likes(post, friends))
        raise RuntimeError("the caller's transaction fails")

    assert callbacks == []
    assert scoring_queue() == []
    assert not Interaction.objects.exists()


def test_score_batch_task_acknowledges_late_and_scores_only_new_ids(brand):
    # given three stored views (views move the pair's last time, weight 0)
    author, friends = author_with_friends(brand, 2)
    post = published_post(author)
    interactions_ingest(caller=staff_caller(brand.pk), events=likes(post, friends))
    ids = list(Interaction.objects.values_list("id", flat=True))

    # when the task runs on them plus an unknown id, then again (re-delivery)
    first = score_batch.apply(args=[[*ids, 10**12]]).get()
    again = score_batch.apply(args=[ids]).get()

    # then it acknowledges late, retries a bounded number of times and claims each id once
    assert score_batch.acks_late is True
    assert score_batch.max_retries == 5
    assert first == {"claimed": 2, "pairs": 2}
    assert again == {"claimed": 0, "pairs": 0}
    assert not ScoringPending.objects.exists()
