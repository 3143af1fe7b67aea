"""Through a real Celery worker on the real Redis broker: HTTP ingest → scoring queue → ties."""

from __future__ import annotations

import math
import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.utils import timezone

from interactions.models import ScoringPending, Tie
from scrm.celery import app
from tests.conftest import app_client_for
from tests.factories import BrandFactory
from tests.graph import author_with_friends, published_post

BATCH = "/api/v1/interactions/batch/"


def wait_until(predicate, timeout: float = 30.0, step: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


@pytest.mark.django_db(transaction=True)
def test_batch_ingested_over_http_is_scored_by_a_real_worker(monkeypatch):
    # given a post delivered to 3 friends, the queue not eager, a worker on the scoring queue
    monkeypatch.setattr(settings, "CELERY_TASK_ALWAYS_EAGER", False)
    app.conf.task_always_eager = False
    app.conf.broker_url = settings.REDIS_URL
    brand = BrandFactory()
    client = app_client_for(brand)
    author, friends = author_with_friends(brand, 3)
    post = published_post(author)
    t = timezone.now() - timedelta(days=14)
    events = [
        {
            "event_id": f"like-{f.pk}",
            "type": "like",
            "actor": f.pk,
            "post": post.pk,
            "occurred_at": t.isoformat(),
        }
        for f in friends
    ] + [
        {
            "event_id": "comment-0",
            "type": "comment",
            "actor": friends[0].pk,
            "post": post.pk,
            "occurred_at": (t + timedelta(days=14)).isoformat(),
        },
        {
            "event_id": "block-2",
            "type": "block",
            "actor": friends[2].pk,
            "target": author.pk,
            "occurred_at": (t + timedelta(days=1)).isoformat(),
        },
    ]

    with start_worker(
        app,
        pool="solo",
        perform_ping_check=False,
        queues=["scoring"],
        shutdown_timeout=30,
    ):
        # when the batch is posted over HTTP
        response = client.post(BATCH, {"events": events}, format="json")
        assert response.status_code == 200, response.json()
        assert [r["status"] for r in response.json()["results"]] == ["created"] * 5

        # then the worker scores every event (bounded wait)
        scored = wait_until(lambda: not ScoringPending.objects.filter(brand_id=brand.pk).exists())
        assert scored, "the worker did not score the batch in time"

    # and the ties hold the hand-computed affinities
    tie = Tie.objects.get(source=friends[0], target=author)
    assert math.isclose(tie.affinity, 0.5 + 3.0, abs_tol=1e-9)
    assert math.isclose(tie.c_like, 0.5, abs_tol=1e-9)
    assert tie.strength > 0
    assert Tie.objects.get(source=author, target=friends[0]).strength == tie.strength
    blocked = Tie.objects.get(source=friends[2], target=author)
    assert blocked.flags == ["blocked"] and math.isclose(blocked.affinity, 1.0)
