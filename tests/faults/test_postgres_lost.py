"""PostgreSQL stopped (a crash: ``pg_ctl stop -m immediate``) and restarted under traffic.

SPEC: the API says 503, never 500, while it is down (connections are refused at once; the
connect timeout bounds an unreachable host); workers retry and resume; nothing is
half-written: every ingest batch is stored whole or not at all (and whole if it was
acknowledged), every post is published with its whole delivery set or not at all. The API
and the worker are not restarted.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from django.db import connection

from campaigns.models import Post
from interactions.models import Interaction, ScoringPending
from tests.campaigns.factories import PostFactory

from .processes import wait_until
from .world import build_world, events_between

pytestmark = pytest.mark.faults

BATCH = "/api/v1/interactions/batch/"


class Traffic:
    """Clients in threads until stopped: ingest batches, publishes, reads. Every answer kept."""

    def __init__(self, api, world, posts) -> None:
        self.api, self.world, self.posts = api, world, list(posts)
        self.author = world.customer(world.senders[0])
        self.answers: list[tuple[str, int, dict]] = []
        self.batches: dict[str, int] = {}  # batch prefix → status
        self.published: dict[int, int] = {}  # post id → status
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self.ingest, args=(n,), daemon=True) for n in range(2)
        ] + [
            threading.Thread(target=self.publish, daemon=True),
            threading.Thread(target=self.read, daemon=True),
        ]

    def keep(self, what: str, status: int, body: dict) -> None:
        with self.lock:
            self.answers.append((what, status, body))

    def ingest(self, n: int) -> None:
        k = 0
        while not self.stop.is_set():
            prefix = f"t{n}-{k}"
            k += 1
            status, body, _ = self.api.request(
                "POST", BATCH, {"events": events_between(self.world, 50, prefix)},
                auth=self.world.app,
            )  # fmt: skip
            self.batches[prefix] = status
            self.keep("ingest", status, body)

    def publish(self) -> None:
        while not self.stop.is_set() and self.posts:
            post = self.posts[0]
            status, body, _ = self.api.request(
                "POST", f"/api/v1/posts/{post.pk}/publish/", auth=self.author
            )
            self.keep("publish", status, body)
            if status != 503:
                self.published[post.pk] = status
                self.posts.pop(0)
            time.sleep(0.05)

    def read(self) -> None:
        while not self.stop.is_set():
            for path in ("/api/v1/customers/", "/api/v1/posts/", "/readyz"):
                self.keep(path, *self.api.request("GET", path, auth=self.world.staff)[:2])

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)


def test_postgres_crash_is_503_never_500_and_nothing_is_half_written(stack):
    # given the API, a brand, posts to publish and 300 events queued for a worker not yet
    # running
    api = stack.start_api(workers=3)
    world = build_world(senders=1, friends=30)
    posts = [PostFactory(author=world.senders[0]) for _ in range(40)]
    status, body, _ = api.request(
        "POST", BATCH, {"events": events_between(world, 300, "queued")}, auth=world.app
    )
    assert status == 200, body

    with Traffic(api, world, posts) as traffic:
        assert wait_until(lambda: len(traffic.answers) > 20, 30)
        # when PostgreSQL crashes under the traffic
        stack.postgres.stop("immediate")
        down_from = len(traffic.answers)
        assert wait_until(lambda: len(traffic.answers) > down_from + 30, 60)
        # and the worker starts while it is down (its tasks fail and are retried)
        worker = stack.start_worker()
        assert wait_until(lambda: "Retry in" in worker.output(), 60), worker.output()
        # and it comes back
        stack.postgres.start()
        up_from = len(traffic.answers)
        assert wait_until(
            lambda: any(
                what == "/readyz" and status == 200 for what, status, _ in traffic.answers[up_from:]
            ),
            60,
        )
        time.sleep(0.5)

    connection.close()  # the test's own connection did not survive the crash either

    # then nothing answered 500: only successes and 503s in the error format
    statuses = Counter(status for _, status, _ in traffic.answers)
    assert set(statuses) <= {200, 201, 503}, [a for a in traffic.answers if a[1] >= 400][:3]
    assert statuses[503] > 0
    for what, status, body in traffic.answers:
        if status == 503 and what != "/readyz":
            assert body["error"]["code"] == "service_unavailable", body
        elif status == 503:
            assert body["checks"]["database"]["ok"] is False, body
    # every batch is whole or absent, and whole if it was acknowledged
    stored = Counter(
        event_id.rsplit("-", 1)[0]
        for event_id in Interaction.objects.filter(brand=world.brand).values_list(
            "event_id", flat=True
        )
    )
    assert stored["queued"] == 300
    for prefix, status in traffic.batches.items():
        assert stored.get(prefix, 0) in (0, 50), prefix
        if status == 200:
            assert stored[prefix] == 50, prefix
    # every post is published with one delivery per friend, or still a draft with none
    for post in Post.objects.filter(pk__in=[p.pk for p in posts]):
        deliveries = post.deliveries.count()
        if post.status == "published":
            assert deliveries == 30, post.pk
            assert post.decisions.count() >= 1
        else:
            assert (post.status, deliveries) == ("draft", 0), post.pk
        if traffic.published.get(post.pk) == 200:
            assert post.status == "published"
    # the worker resumed: every event is scored, with no restart of anything
    assert wait_until(
        lambda: not ScoringPending.objects.filter(brand_id=world.brand.pk).exists(), 120
    ), worker.output()
    assert api.request("GET", "/api/v1/customers/", auth=world.staff)[0] == 200
