"""The same write sent twice at the same moment, to different gunicorn workers: one effect.

Two publishes of one post: it is published once, with one delivery per friend, one stored
decision, and the recipients' budgets consumed once. Two ingests of one batch: every event
stored and queued for scoring once, one answer ``created`` and the other ``duplicate``; the
ties count each event once.
"""

from __future__ import annotations

import math
import threading
from collections import Counter

import pytest

from campaigns.models import Delivery, Post, PublishDecision
from interactions import scoring
from interactions.models import Interaction, ScoringPending, Tie
from interactions.scoring import Event, TieParams
from tests.campaigns.factories import PostFactory

from .processes import wait_until
from .world import build_world, events_between

pytestmark = pytest.mark.faults

ROUNDS = 5


def at_once(*calls):
    """Run the calls in threads released together; their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def test_two_publishes_of_one_post_at_once_publish_it_once(stack):
    # given senders with commercial posts to the same friends; the recipients' weekly budget
    # is 2 (base 4 at strength 0), the daily cap off
    api = stack.start_api(workers=3)
    world = build_world(senders=ROUNDS + 1, friends=8, commercial_rules=["recipient_weekly_cap"])
    for sender in world.senders[:ROUNDS]:
        post = PostFactory(author=sender, commercial=True)
        auth = world.customer(sender)
        path = f"/api/v1/posts/{post.pk}/publish/"

        # when the same publish arrives twice at once
        answers = at_once(
            lambda path=path, auth=auth: api.request("POST", path, auth=auth),
            lambda path=path, auth=auth: api.request("POST", path, auth=auth),
        )

        # then one of them published it; the other did not publish it again
        statuses = sorted(status for status, _, _ in answers)
        assert all(status < 500 for status in statuses), answers
        published = [b for s, b, _ in answers if s == 200 and b.get("decision") == "published"]
        assert len(published) == 1, answers
        post.refresh_from_db()
        assert post.status == "published"
        assert Delivery.objects.filter(post=post).count() == 8
        assert PublishDecision.objects.filter(post=post, decision="published").count() == 1
        # a budget of 2 lets round two reach every friend only if round one consumed it once
        if sender == world.senders[1]:
            assert published[0]["delivered"] == 8, published[0]

    # and the budgets were consumed once per published post: two posts reached everyone,
    # the third and later were suppressed for everyone
    reached = Counter(
        Delivery.objects.filter(post__brand=world.brand, status="delivered").values_list(
            "recipient_id", flat=True
        )
    )
    assert set(reached.values()) == {2}, reached
    assert Post.objects.filter(brand=world.brand, status="published").count() == ROUNDS


def test_two_ingests_of_one_batch_at_once_store_and_score_each_event_once(stack):
    # given the API and a worker
    api = stack.start_api(workers=3)
    world = build_world(senders=2, friends=6)
    worker = stack.start_worker()
    batches = [events_between(world, 300, f"round{n}") for n in range(ROUNDS)]

    for events in batches:
        # when the same batch arrives twice at once
        answers = at_once(
            *[
                lambda events=events: api.request(
                    "POST", "/api/v1/interactions/batch/", {"events": events}, auth=world.app
                )
            ]
            * 2
        )

        # then each event was created by exactly one of them, a duplicate for the other
        assert [status for status, _, _ in answers] == [200, 200], answers
        for index, event in enumerate(events):
            statuses = sorted(body["results"][index]["status"] for _, body, _ in answers)
            assert statuses == ["created", "duplicate"], (event["event_id"], statuses)

    # and the log and the outbox hold each event once
    assert Interaction.objects.filter(brand=world.brand).count() == 300 * ROUNDS
    # and the worker applies each event once: the ties equal the formula over the log
    assert wait_until(
        lambda: not ScoringPending.objects.filter(brand_id=world.brand.pk).exists(), 120
    ), worker.output()
    params = TieParams.from_settings()
    by_pair: dict[tuple[int, int], list[Event]] = {}
    for row in Interaction.objects.filter(brand=world.brand):
        by_pair.setdefault((row.actor_id, row.target_id), []).append(
            Event(row.type, row.occurred_at)
        )
    for (source, target), events in by_pair.items():
        tie = Tie.objects.get(source_id=source, target_id=target)
        want = scoring.from_events(events, params)
        assert math.isclose(tie.affinity, want.score, rel_tol=1e-9), (source, target)
