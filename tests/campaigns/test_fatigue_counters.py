"""Fatigue counters against the real Redis of `make test` (settings.REDIS_URL)."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from django.conf import settings
from redis.crc import key_slot

from campaigns.fatigue import rules
from campaigns.fatigue.counters import (
    ExposureRecord,
    FatigueCounters,
    Ledger,
    SenderPostRecord,
    to_us,
)
from campaigns.fatigue.rules import CounterPlan, RecipientLimit

NOW = datetime(2024, 5, 15, 4, 0, tzinfo=UTC)  # 12:00 Asia/Shanghai
DAY_START = datetime(2024, 5, 14, 16, 0, tzinfo=UTC)  # 00:00 Asia/Shanghai
WEEK = timedelta(days=7)
H = timedelta(hours=1)
EMPTY = Ledger(sender_posts=[], exposures=[])


@pytest.fixture
def client():
    connection = redis_lib.Redis.from_url(settings.REDIS_URL)
    yield connection
    connection.close()


@pytest.fixture
def counters(client):
    ready = FatigueCounters(client, brand_id=1)
    ready.rebuild(EMPTY, now=NOW, window=WEEK)
    return ready


def plan(
    *,
    at=NOW,
    sender="s1",
    commercial=True,
    recipients=(),
    daily=2,
    weekly=8,
    gap=None,
    share=None,
    day_start=DAY_START,
) -> CounterPlan:
    return CounterPlan(
        sender_id=sender,
        commercial=commercial,
        at=at,
        day_start=day_start,
        window=WEEK,
        sender_daily_cap=daily,
        sender_weekly_cap=weekly,
        sender_min_gap=gap,
        sender_commercial_share_max=share,
        recipients=tuple(
            r if isinstance(r, RecipientLimit) else RecipientLimit(r, 1, 4) for r in recipients
        ),
    )


def snapshot(client) -> dict:
    """Every key with its content and whether it expires."""
    out = {}
    for key in sorted(client.keys("*")):
        kind = client.type(key)
        zset = kind == b"zset"
        value = client.zrange(key, 0, -1, withscores=True) if zset else client.get(key)
        out[key] = (value, client.pttl(key) > 0)
    return out


# --- caps at their boundary ----------------------------------------------------------------


def test_sender_daily_cap_is_consumed_exactly_at_the_boundary(counters, client):
    # given a daily cap of 2
    first = counters.run(post_id=1, plan=plan(at=NOW))
    second = counters.run(post_id=2, plan=plan(at=NOW + H))
    # then the second post is admitted and the third refused with the numbers
    assert (first.status, second.status) == ("admitted", "admitted")
    third = counters.run(post_id=3, plan=plan(at=NOW + 2 * H))
    assert third.status == "rejected"
    assert (third.rule, third.count, third.cap) == ("sender_daily_cap", 2, 2)
    assert "sender cap 2/day reached: 2 commercial posts" in third.reason().message
    # and the refused post consumed nothing
    assert client.zcard(counters.sender_keys("s1")[0]) == 2
    # the next local day starts fresh
    tomorrow = counters.run(post_id=4, plan=plan(at=NOW + 24 * H, day_start=DAY_START + 24 * H))
    assert tomorrow.status == "admitted"


def test_sender_window_cap_rolls_at_the_exact_edge(counters):
    # given 2 commercial posts, the first exactly 7 days before NOW
    counters.run(post_id=1, plan=plan(at=NOW - WEEK, weekly=2, day_start=NOW - WEEK))
    counters.run(post_id=2, plan=plan(at=NOW - 3 * 24 * H, weekly=2, day_start=NOW - WEEK))
    # one microsecond before NOW the first still counts; at NOW it is out
    early = counters.run(
        post_id=3, plan=plan(at=NOW - timedelta(microseconds=1), weekly=2), preview=True
    )
    assert (early.status, early.rule) == ("rejected", "sender_weekly_cap")
    assert counters.run(post_id=3, plan=plan(at=NOW, weekly=2)).status == "admitted"


def test_minimum_gap_and_commercial_share(counters):
    counters.run(post_id=1, plan=plan(at=NOW, commercial=False))
    counters.run(post_id=2, plan=plan(at=NOW + H, commercial=True, gap=3 * H, share=0.5))
    # the share after a third (commercial) post would be 2/3
    share = counters.run(post_id=3, plan=plan(at=NOW + 5 * H, gap=3 * H, share=0.5))
    assert (share.rule, share.count, share.cap) == ("sender_commercial_share", 2, 3)
    counters.run(post_id=4, plan=plan(at=NOW + 2 * H, commercial=False))
    # the gap: 2 h 59 min after the last commercial post, refused with the time it clears
    gap = counters.run(
        post_id=5, plan=plan(at=NOW + H + 3 * H - timedelta(minutes=1), gap=3 * H, share=0.5)
    )
    assert gap.rule == "sender_min_gap"
    assert gap.retry_at == NOW + 4 * H
    assert counters.run(post_id=5, plan=plan(at=NOW + 4 * H, gap=3 * H, share=0.5)).admitted == ()


def test_recipient_budgets_across_senders(counters):
    # given recipient r1 with daily 1 / window 2, r2 with daily 2
    limits = (RecipientLimit("r1", 1, 2), RecipientLimit("r2", 2, 6))
    a = counters.run(post_id=1, plan=plan(sender="a", recipients=limits))
    assert a.admitted == ("r1", "r2") and a.refused == {}
    # when another sender of the brand posts the same day
    b = counters.run(post_id=2, plan=plan(sender="b", at=NOW + H, recipients=limits))
    # then r1 is over its daily budget, r2 is not
    assert b.admitted == ("r2",)
    assert b.refused == {"r1": "recipient_daily_cap"}
    # the next day r1 may see one more (window budget 2), then the window budget holds
    c = counters.run(
        post_id=3,
        plan=plan(sender="c", at=NOW + 24 * H, day_start=DAY_START + 24 * H, recipients=limits),
    )
    assert "r1" in c.admitted
    d = counters.run(
        post_id=4,
        plan=plan(sender="d", at=NOW + 48 * H, day_start=DAY_START + 48 * H, recipients=limits),
    )
    assert d.refused["r1"] == "recipient_weekly_cap"


def test_budget_of_zero_and_rules_switched_off(counters):
    off = counters.run(
        post_id=1,
        plan=plan(daily=None, weekly=None, recipients=[RecipientLimit(7, None, None)]),
    )
    assert off.admitted == (7,)
    zero = counters.run(post_id=2, plan=plan(daily=None, recipients=[RecipientLimit(8, 0, 4)]))
    assert zero.refused == {8: "recipient_daily_cap"}


# --- preview, idempotency, cold state ---------------------------------------------------


def test_preview_consumes_nothing(counters, client):
    counters.run(post_id=1, plan=plan(recipients=["r1"]))
    before = snapshot(client)
    # when previews are run, admitted and refused alike
    for post in range(2, 6):
        result = counters.run(
            post_id=post, plan=plan(at=NOW + H, recipients=["r1", "r2"]), preview=True
        )
        assert result.status == "admitted"
        assert result.refused == {"r1": "recipient_daily_cap"}
    # then Redis is byte for byte unchanged
    assert snapshot(client) == before


def test_rerunning_a_post_does_not_consume_twice(counters, client):
    first = counters.run(post_id=42, plan=plan(recipients=["r1", "r2"]))
    again = counters.run(post_id=42, plan=plan(at=NOW + H, recipients=["r1", "r2"]))
    assert again.replayed and not first.replayed
    assert again.admitted == first.admitted == ("r1", "r2")
    assert client.zcard(counters.sender_keys("s1")[0]) == 1
    assert client.zcard(counters.recipient_key("r1")) == 1
    # a preview of a consumed post answers its stored result too
    assert counters.run(post_id=42, plan=plan(), preview=True).replayed


def test_cold_state_consumes_nothing(client):
    counters = FatigueCounters(client, brand_id=9)
    result = counters.run(post_id=1, plan=plan(recipients=["r1"]))
    assert result.status == "cold"
    assert client.keys("*") == []


def test_keys_expire_after_the_longest_window(counters, client):
    counters.run(post_id=1, plan=plan(recipients=["r1"]))
    longest = (WEEK + timedelta(days=1)) // timedelta(milliseconds=1)
    for key in [*counters.sender_keys("s1"), counters.recipient_key("r1"), counters.post_key(1)]:
        assert 0 < client.pttl(key) <= longest
    assert client.pttl(counters.ready_key) == -1


# --- concurrency ------------------------------------------------------------------------


def test_concurrent_publishes_by_one_sender_never_exceed_a_cap(counters):
    # given 16 threads publishing different commercial posts of one sender at the same moment,
    # each to the same 50 recipients
    recipients = [RecipientLimit(f"r{i}", 1, 4) for i in range(50)]
    barrier = threading.Barrier(16)
    results = []
    lock = threading.Lock()

    def publish(post_id):
        own = FatigueCounters(redis_lib.Redis.from_url(settings.REDIS_URL), brand_id=1)
        barrier.wait()
        result = own.run(post_id=post_id, plan=plan(at=NOW, daily=2, recipients=recipients))
        with lock:
            results.append(result)
        own.client.close()

    threads = [threading.Thread(target=publish, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # then exactly 2 posts went through and every recipient saw exactly one of them
    statuses = Counter(r.status for r in results)
    assert statuses == {"admitted": 2, "rejected": 14}
    seen = Counter(rid for r in results for rid in r.admitted)
    assert set(seen.values()) == {1} and len(seen) == 50


# --- rebuild ----------------------------------------------------------------------------


def test_rebuild_after_flushall_restores_every_cap(counters, client):
    # given a day of publishing, written to the durable ledger as it happened
    ledger_posts, ledger_exposures = [], []
    schedule = [
        (1, "s1", NOW - 3 * 24 * H, True),
        (2, "s1", NOW - 2 * H, False),
        (3, "s1", NOW - H, True),
        (4, "s2", NOW - 30 * 60 * 1_000_000 * timedelta(microseconds=1), True),
    ]
    for post_id, sender, at, commercial in schedule:
        result = counters.run(
            post_id=post_id,
            plan=plan(at=at, sender=sender, commercial=commercial, recipients=["r1", "r2"]),
        )
        ledger_posts.append(SenderPostRecord(sender, at, commercial, post_id))
        if commercial:
            ledger_exposures += [ExposureRecord(r, at, post_id) for r in result.admitted]
    before = {k: v for k, v in snapshot(client).items() if b":fat:p:" not in k}
    probe = plan(at=NOW, sender="s1", recipients=["r1", "r2", "r3"], weekly=2)
    expected = counters.run(post_id=99, plan=probe, preview=True)
    # when Redis loses everything
    client.flushall()
    assert counters.run(post_id=99, plan=probe).status == "cold"
    # then the first decision rebuilds from the ledger and every cap holds as before
    rebuilt = counters.run(
        post_id=99, plan=probe, preview=True, ledger=lambda: Ledger(ledger_posts, ledger_exposures)
    )
    assert rebuilt == expected
    assert (rebuilt.status, rebuilt.rule) == ("rejected", "sender_weekly_cap")
    after = {k: v for k, v in snapshot(client).items() if b":fat:p:" not in k}
    assert after == before
    s2 = counters.run(post_id=100, plan=plan(at=NOW, sender="s2", recipients=["r1", "r3"]))
    assert s2.refused == {"r1": "recipient_daily_cap"} and s2.admitted == ("r3",)


def test_rebuild_accepts_plain_tuples_and_drops_old_records(client):
    counters = FatigueCounters(client, brand_id=5)
    stats = counters.rebuild(
        Ledger(
            sender_posts=[("s1", NOW - H, True), ("s1", NOW - 8 * 24 * H, True)],
            exposures=[("r1", NOW - H), ("r1", NOW - H), ("r2", NOW - WEEK)],
        ),
        now=NOW,
        window=WEEK,
    )
    assert (stats.sender_posts, stats.exposures) == (1, 2)
    assert client.zcard(counters.recipient_key("r1")) == 2  # two records, two exposures
    assert not client.exists(counters.recipient_key("r2"))  # exactly 7 days old: out


def test_automatic_rebuild_runs_once_and_replaces_stale_state(client):
    counters = FatigueCounters(client, brand_id=3)
    client.zadd(counters.recipient_key("stale"), {"x": to_us(NOW)})
    stats = counters.rebuild(Ledger([], [("r1", NOW - H, 7)]), now=NOW, window=WEEK)
    assert stats.keys == 1
    assert not client.exists(counters.recipient_key("stale"))
    # the automatic path leaves a ready state alone
    assert counters.rebuild(EMPTY, now=NOW, window=WEEK, force=False) is None
    assert client.exists(counters.recipient_key("r1"))


# --- keys, tenancy and the rules ------------------------------------------------------------


def test_all_keys_of_one_call_share_the_brand_hash_slot(client):
    counters = FatigueCounters(client, brand_id=77)
    keys = counters.keys_for(5, plan(recipients=[f"r{i}" for i in range(200)]))
    assert all(key.startswith("{b:77}:") for key in keys)
    assert len({key_slot(key.encode()) for key in keys}) == 1
    assert counters.lock_key.startswith("{b:77}:")
    other = FatigueCounters(client, brand_id=78).keys_for(5, plan())
    assert not set(keys) & set(other)


def test_brands_do_not_share_counters(client):
    acme, rival = FatigueCounters(client, 1), FatigueCounters(client, 2)
    for brand in (acme, rival):
        brand.rebuild(EMPTY, now=NOW, window=WEEK)
    acme.run(post_id=1, plan=plan(recipients=["r1"]))
    acme.run(post_id=2, plan=plan(at=NOW + H, recipients=["r1"]))
    assert acme.run(post_id=3, plan=plan(at=NOW + 2 * H), preview=True).status == "rejected"
    fresh = rival.run(post_id=3, plan=plan(at=NOW + 2 * H, recipients=["r1"]))
    assert fresh.status == "admitted" and fresh.admitted == ("r1",)


def test_the_rules_plan_runs_as_decided(counters):
    # given a sender's two non-commercial posts, each run through the counters too (so the
    # commercial share is known to Redis), and the rules' decision for 3 friends
    policy = rules.FatiguePolicy()
    sender = rules.SenderHistory("s1")
    for post_id, at in ((8, NOW - 5 * H), (9, NOW - 4 * H)):
        plain = rules.decide(policy, at, False, sender, [])
        counters.run(post_id=post_id, plan=plain.plan)
        sender = rules.SenderHistory("s1", posts=[*sender.posts, (at, False)])
    friends = [
        rules.RecipientState(1, strength=0.9),
        rules.RecipientState(2, negatives={"block": NOW - 24 * H}),
        rules.RecipientState(3, marketing_consent=False),
    ]
    decision = rules.decide(policy, NOW, True, sender, friends)
    assert decision.admitted == (1,)
    # when its plan is consumed, Redis agrees, and a second post that day is refused for 1
    result = counters.run(post_id=10, plan=decision.plan)
    assert result.admitted == decision.admitted
    # (the rules were not told about that exposure: Redis holds the counts)
    sender = rules.SenderHistory("s1", posts=[*sender.posts, (NOW, True)])
    again = rules.decide(policy, NOW + 3 * H, True, sender, friends)
    assert again.admitted == (1,)
    second = counters.run(post_id=11, plan=again.plan)
    assert second.status == "admitted"
    assert second.refused == {1: "recipient_daily_cap"}


def test_non_commercial_posts_count_for_the_share_only(counters, client):
    # given a non-commercial post to two friends
    plain = counters.run(post_id=1, plan=plan(commercial=False, recipients=["r1", "r2"]))
    # then both are reached, no budget is touched, and the post counts among all posts
    assert plain.admitted == ("r1", "r2")
    assert not client.exists(counters.recipient_key("r1"))
    commercial_key, all_key = counters.sender_keys("s1")
    assert (client.zcard(commercial_key), client.zcard(all_key)) == (0, 1)
    # and a cold state is reported for them too
    client.flushall()
    assert counters.run(post_id=2, plan=plan(commercial=False)).status == "cold"


def test_a_replay_with_other_recipients_reports_who_was_reached(counters):
    counters.run(post_id=7, plan=plan(recipients=["r1", "r2"]))
    # when the same post is run again with a changed friend list
    again = counters.run(post_id=7, plan=plan(recipients=["r2", "r3", "r1"]))
    # then nothing is consumed again and the answer says who the post did reach
    assert again.replayed
    assert again.admitted == ("r2", "r1")
    assert again.refused == {"r3": "already_decided"}


def test_budgets_beyond_the_wire_format_are_refused(counters):
    with pytest.raises(ValueError, match="out of range"):
        counters.run(post_id=1, plan=plan(recipients=[RecipientLimit("r1", 1, 10_000)]))
