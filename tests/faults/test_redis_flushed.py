"""Redis flushed (FLUSHALL) and restarted empty while posts are being published.

Several senders publish commercial posts to the same friends at once, over HTTP to
gunicorn, while Redis loses its state again and again. SPEC: the next decisions rebuild the
fatigue counters from PostgreSQL, and no recipient ever exceeds its cap across the flushes —
checked against the durable ledger (the delivered commercial exposures in PostgreSQL).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import Counter
from zoneinfo import ZoneInfo

import psycopg
import pytest
import redis as redis_lib

from campaigns.fatigue.rules import recipient_budget
from campaigns.models import Delivery, Post
from tests.campaigns.factories import PostFactory

from .processes import wait_until
from .world import build_world

pytestmark = pytest.mark.faults

SENDERS, FRIENDS, POSTS_EACH = 6, 12, 3


def test_no_recipient_exceeds_its_cap_across_flushes_and_an_empty_restart(stack):
    # given senders with commercial posts to the same friends; only the recipient caps on
    # (daily 1, weekly 4, scaled by strength 0 here: 1 a day, 2 a week)
    api = stack.start_api(workers=3)
    world = build_world(
        senders=SENDERS,
        friends=FRIENDS,
        commercial_rules=["recipient_daily_cap", "recipient_weekly_cap"],
    )
    queue = [
        (PostFactory(author=sender, commercial=True), world.customer(sender))
        for _ in range(POSTS_EACH)
        for sender in world.senders
    ]
    answers: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def publisher():
        while True:
            with lock:
                if not queue:
                    return
                post, auth = queue.pop(0)
            status, body, _ = api.request("POST", f"/api/v1/posts/{post.pk}/publish/", auth=auth)
            with lock:
                answers.append((status, body))
                if status == 503:  # Redis was down for that moment: the client retries
                    queue.append((post, auth))
            time.sleep(0.02)

    redis = stack.redis.client()
    threads = [threading.Thread(target=publisher, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()

    # when Redis is flushed over and over and once restarted empty, while they publish
    flushes = 0
    while any(thread.is_alive() for thread in threads):
        time.sleep(0.03)
        if flushes == 5:
            stack.redis.restart_empty()
            redis = stack.redis.client()
        else:
            with contextlib.suppress(redis_lib.ConnectionError):  # (just restarted)
                redis.flushall()
        flushes += 1
    for thread in threads:
        thread.join(60)
    assert flushes > 5, flushes

    # then every answer was a decision or a 503 in the error format, never a 500
    assert {status for status, _ in answers} <= {200, 503}, answers
    assert all(body["error"]["code"] == "service_unavailable" for s, body in answers if s == 503)
    decisions = Counter(body["decision"] for status, body in answers if status == 200)
    assert decisions["published"] >= 1, decisions

    # and the ledger: no recipient got more commercial exposures than its budget, per day
    # in the brand's time zone and over the window
    zone = ZoneInfo(world.brand.time_zone)
    daily = recipient_budget(1, 0.0)
    weekly = recipient_budget(4, 0.0)
    delivered = Delivery.objects.filter(
        post__brand=world.brand, post__commercial=True, status="delivered"
    ).values_list("recipient_id", "created_at")
    per_day = Counter((recipient, at.astimezone(zone).date()) for recipient, at in delivered)
    per_window = Counter(recipient for recipient, _ in delivered)
    assert per_day and max(per_day.values()) <= daily, per_day
    assert max(per_window.values()) <= weekly, per_window
    # every friend was reached by some post (the caps suppressed the rest, not the flushes)
    assert set(per_window) == {friend.pk for friend in world.friends}

    # and after one more flush, a preview (rebuilt from the ledger) agrees: nobody has budget
    # left today
    wait_until(lambda: redis.ping(), 10)
    redis.flushall()
    sender = world.senders[0]
    extra = PostFactory(author=sender, commercial=True)
    status, body, _ = api.request(
        "POST", f"/api/v1/posts/{extra.pk}/publish-preview/", auth=world.customer(sender)
    )
    assert status == 200, body
    assert body["delivered"] == 0, body
    assert sum(body["suppressed"].values()) == FRIENDS, body
    assert Post.objects.get(pk=extra.pk).status == "draft"


class FlushingExposures:
    """Ledger exposures whose first reading is interrupted by a FLUSHALL of Redis — the wipe
    arrives while the rebuild is writing."""

    def __init__(self, redis, records) -> None:
        self.redis, self.records, self.readings = redis, records, 0

    def __iter__(self):
        self.readings += 1
        for index, record in enumerate(self.records):
            if self.readings == 1 and index == len(self.records) // 2:
                self.redis.flushall()
            yield record


def test_a_flush_in_the_middle_of_a_rebuild_never_leaves_a_state_marked_ready_without_it(
    fault_stack,
):
    # given a ledger where 12 recipients each had a commercial exposure today
    from datetime import UTC, datetime, timedelta

    from campaigns.fatigue.counters import ExposureRecord, FatigueCounters, Ledger
    from campaigns.fatigue.rules import CounterPlan, RecipientLimit

    now = datetime.now(UTC).replace(microsecond=0)
    redis = fault_stack.redis.client()
    redis.flushall()
    exposures = FlushingExposures(
        redis,
        [ExposureRecord(f"r{n}", now - timedelta(minutes=n + 1), 1000 + n) for n in range(12)],
    )
    counters = FatigueCounters(redis, brand_id=77)

    # when the rebuild's writing is interrupted by a FLUSHALL
    counters.rebuild(
        Ledger(sender_posts=[], exposures=exposures), now=now, window=timedelta(days=7)
    )

    # then it noticed and wrote again: every exposure is back, and a post to them with a
    # daily budget of 1 reaches nobody
    assert exposures.readings == 2
    plan = CounterPlan(
        sender_id="s", commercial=True, at=now, day_start=now - timedelta(hours=1),
        window=timedelta(days=7), sender_daily_cap=None, sender_weekly_cap=None,
        sender_min_gap=None, sender_commercial_share_max=None,
        recipients=tuple(RecipientLimit(f"r{n}", 1, 4) for n in range(12)),
    )  # fmt: skip
    result = counters.run(post_id=5000, plan=plan, preview=True)
    assert result.status == "admitted"
    assert result.admitted == ()
    assert set(result.refused.values()) == {"recipient_daily_cap"}


def test_a_flush_between_a_publishs_consumption_and_its_commit_is_rebuilt_with_it(stack):
    # given two senders' commercial posts to the same 5 friends (daily budget 1), and Redis
    # ready
    from campaigns.models import Delivery as DeliveryModel
    from customers.models import Customer

    api = stack.start_api(workers=3)
    world = build_world(senders=2, friends=5, commercial_rules=["recipient_daily_cap"])
    (first_sender, second_sender), friends = world.senders, world.friends
    first = PostFactory(author=first_sender, commercial=True)
    second = PostFactory(author=second_sender, commercial=True)
    path = "/api/v1/posts/{}/publish/"
    preview = f"/api/v1/posts/{first.pk}/publish-preview/"
    assert api.request("POST", preview, auth=world.customer(first_sender))[0] == 200
    # and the first publish held between its consumption in Redis and its commit: the test
    # locks a recipient's row, which its deliveries' foreign key check must wait for
    dsn = stack.postgres.url(stack.database).replace("postgres://", "postgresql://")
    blocker = psycopg.connect(dsn)
    blocker.execute(
        f"SELECT 1 FROM {Customer._meta.db_table} WHERE id = %s FOR UPDATE", [friends[0].pk]
    )
    answers = {}

    def publish(name, post, sender):
        answers[name] = api.request("POST", path.format(post.pk), auth=world.customer(sender))

    # (observed from a connection of its own: a transaction sees one snapshot of the activity)
    watcher = psycopg.connect(dsn, autocommit=True)

    def waiting(what: str) -> bool:
        rows = watcher.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock' AND wait_event = %s",
            [what],
        ).fetchone()
        return rows[0] > 0

    one = threading.Thread(target=publish, args=("first", first, first_sender))
    one.start()
    assert wait_until(lambda: waiting("transactionid") or waiting("tuple"), 20), answers

    # when Redis is wiped while it waits, and the second sender publishes
    stack.redis.client().flushall()
    two = threading.Thread(target=publish, args=("second", second, second_sender))
    two.start()
    # (the second finds Redis cold and waits for the first to commit before rebuilding)
    wait_until(lambda: "second" in answers or waiting("advisory"), 20)
    blocker.rollback()
    blocker.close()
    one.join(60)
    two.join(60)
    watcher.close()
    assert set(answers) == {"first", "second"}, answers

    # then the first reached everyone, and the second nobody: the rebuilt state held the
    # first's exposures although Redis lost them before they were committed
    assert answers["first"][0] == 200 and answers["first"][1]["delivered"] == 5, answers
    assert answers["second"][0] == 200, answers
    assert answers["second"][1]["delivered"] == 0, answers["second"][1]
    assert answers["second"][1]["suppressed"] == {"recipient_daily_cap": 5}
    per_recipient = Counter(
        DeliveryModel.objects.filter(post__brand=world.brand, status="delivered").values_list(
            "recipient_id", flat=True
        )
    )
    assert set(per_recipient.values()) == {1}
