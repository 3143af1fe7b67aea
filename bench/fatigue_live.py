"""The live fatigue decision through PostgreSQL and Redis, for a sender with N friends.

    python -m scrm.devservers -- .venv/bin/python bench/fatigue_live.py [--friends 500]
        [--senders 20] [--runs 200]

Builds one brand: a sender with N friends (random tie strengths, ~3 % muted or hid a post,
~5 % without consent) and S other senders who each posted one commercial post a day for the
last 7 days, each to random friends so that a friend got E commercial exposures over the
week on average (--exposures, default 4: about what the default budgets allow; 10 % of
them liked, so some friends are in a back-off). Then, in the same run:
- baseline: the bare query listing the sender's friends (the least any decision must read);
- the inputs alone (`fatigue_inputs`: the sender's history and every friend's state, as the
  publish path reads them, and with each friend's exposures as well);
- `rules.decide` alone (over the inputs with exposures); `FatigueCounters.run(preview=True)` alone;
- the whole preview (`post_publish(preview=True)`: lock-free read, policy, inputs, rules, Lua);
- whole publishes (`post_publish`: + consume, 1 INSERT of N deliveries, the stored decision),
  by fresh senders sharing the same friends, so budgets fill up as in real traffic.
Prints p50 / p99 in ms. Goal from the issue: a 500-friend decision p99 ≤ 10 ms.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import time
from datetime import timedelta

from _setup import django_ready, make_graph


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))] * 1000


def line(name: str, samples: list[float]) -> str:
    return (
        f"{name:<44} p50 {pct(samples, 50):7.2f} ms   p99 {pct(samples, 99):7.2f} ms"
        f"   (n={len(samples)})"
    )


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        out.append(time.perf_counter() - began)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--friends", type=int, default=500)
    parser.add_argument("--senders", type=int, default=20)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--exposures", type=float, default=4.0)
    parser.add_argument("--publishes", type=int, default=30)
    parser.add_argument(
        "--explain", action="store_true", help="print EXPLAIN ANALYZE of the input queries"
    )
    parser.add_argument("--profile", action="store_true", help="cProfile whole previews, then stop")
    args = parser.parse_args()
    django_ready()

    from django.db import connection
    from django.utils import timezone

    from campaigns.fatigue import rules
    from campaigns.models import Delivery, Post, PostStatus
    from campaigns.services import fatigue_live
    from campaigns.services.decision import decide
    from campaigns.services.fatigue_policy import fatigue_policy_for, fatigue_policy_update
    from campaigns.services.publish import post_publish
    from customers.models import Customer, Friendship
    from interactions.models import Interaction, Tie
    from scrm.tenancy.services import Caller, CallerKind

    rnd = random.Random(7)
    brand, (author,), friends = make_graph(
        brand_name=f"bench-fatigue-{time.time_ns()}", authors=1, friends_per_author=args.friends
    )
    circle = friends[author]
    now = timezone.now()
    # Quiet hours, the gap and the share would defer or reject most timed posts: off, so the
    # whole path (recipient screening and the Lua budgets) runs every time.
    fatigue_policy_update(
        brand_id=brand.pk,
        data={
            "enabled_rules": sorted(
                rules.ALL_RULES - {"quiet_hours", "sender_min_gap", "sender_commercial_share"}
            ),
            "sender_daily_cap": 1000,
            "sender_weekly_cap": 1000,
        },
        partial=True,
    )
    Customer.objects.filter(pk__in=circle[::20]).update(marketing_consent=False)
    ties = []
    for friend in circle:
        strength = rnd.random()
        ties.append(Tie(brand=brand, source_id=author, target_id=friend, strength=strength))
        flags = {}
        if rnd.random() < 0.03:
            flags = rnd.choice([{"muted_at": now}, {"last_hidden_at": now - timedelta(days=3)}])
        ties.append(
            Tie(brand=brand, source_id=friend, target_id=author, strength=strength, **flags)
        )
    Tie.objects.bulk_create(ties, batch_size=5_000)

    # Other senders: one commercial post a day for a week to a random half of the circle.
    others = Customer.objects.bulk_create(
        Customer(brand=brand, external_id=f"{brand.slug}-s{i}", display_name=f"s{i}")
        for i in range(args.senders)
    )
    edges, posts, deliveries, likes = [], [], [], []
    per_post = max(1, round(len(circle) * args.exposures / (len(others) * 7)))
    for sender in others:
        audience = rnd.sample(circle, min(len(circle), per_post * 4))
        edges += [
            Friendship(
                brand=brand,
                customer_low_id=min(sender.pk, f),
                customer_high_id=max(sender.pk, f),
                since=now - timedelta(days=60),
            )
            for f in audience
        ]
        for day in range(7, 0, -1):
            at = now - timedelta(days=day, minutes=rnd.randrange(600))
            posts.append((sender.pk, at, rnd.sample(audience, per_post)))
    Friendship.objects.bulk_create(edges, batch_size=5_000)
    created = Post.objects.bulk_create(
        Post(
            brand=brand,
            author_id=sender,
            text="promo #ad",
            commercial=True,
            status=PostStatus.PUBLISHED,
            published_at=at,
        )
        for sender, at, _ in posts
    )
    for post, (sender, at, audience) in zip(created, posts, strict=True):
        for friend in audience:
            deliveries.append(
                Delivery(brand=brand, post=post, recipient_id=friend, status="delivered")
            )
            if rnd.random() < 0.1:
                likes.append(
                    Interaction(
                        brand=brand,
                        event_id=f"l{post.pk}-{friend}",
                        type="like",
                        actor_id=friend,
                        target_id=sender,
                        post=post,
                        occurred_at=at + timedelta(minutes=5),
                        received_at=at + timedelta(minutes=5),
                    )
                )
    Delivery.objects.bulk_create(deliveries, batch_size=10_000)
    for post, (_, at, _) in zip(created, posts, strict=True):
        Delivery.objects.filter(post=post).update(created_at=at)
    Interaction.objects.bulk_create(likes, batch_size=10_000)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(
        f"friends={args.friends} other senders={args.senders} "
        f"deliveries in history={len(deliveries)} likes={len(likes)}"
    )

    author_row = Customer.objects.get(pk=author)
    policy = fatigue_policy_for(brand_id=brand.pk)
    caller = Caller(kind=CallerKind.CUSTOMER, brand_id=brand.pk, customer_id=author)
    post = Post.objects.create(brand=brand, author_id=author, text="bench #ad", commercial=True)
    post = Post.objects.select_related("author").get(pk=post.pk)
    fatigue_live.counters_rebuild(brand_id=brand.pk)

    def bare_friends():
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT rid FROM ({fatigue_live.friends_sql()}) f",
                {"author": author},
            )
            cursor.fetchall()

    def inputs(exposures: bool = False, commercial: bool = True):
        return fatigue_live.fatigue_inputs(
            author=author_row,
            commercial=commercial,
            now=timezone.now(),
            policy=policy,
            exposures=exposures,
        )

    if args.explain:
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            inputs()
        for query in captured.captured_queries:
            with connection.cursor() as cursor:
                cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + query["sql"])
                print("\n".join(row[0] for row in cursor.fetchall()), "\n")
        return
    if args.profile:
        import cProfile
        import pstats

        fatigue_live.counters_rebuild(brand_id=brand.pk)
        profiler = cProfile.Profile()
        profiler.runcall(
            lambda: [post_publish(caller=caller, post=post, preview=True) for _ in range(50)]
        )
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    _, history, states = inputs(exposures=True)
    verdict = rules.decide(policy, timezone.now(), True, history, states)
    counters = fatigue_live.counters_for(brand_id=brand.pk)
    results = {
        "baseline: bare friends query": timed(bare_friends, args.runs),
        "fatigue_inputs (one statement)": timed(inputs, args.runs),
        "fatigue_inputs + exposures": timed(lambda: inputs(exposures=True), args.runs),
        "fatigue_inputs, non-commercial (no streak)": timed(
            lambda: inputs(commercial=False), args.runs
        ),
        "rules.decide": timed(
            lambda: rules.decide(policy, timezone.now(), True, history, states), args.runs
        ),
        "counters.run(preview) (one EVALSHA)": timed(
            lambda: counters.run(post_id=post.pk, plan=verdict.plan, preview=True), args.runs
        ),
        "decide(preview): policy+inputs+rules+Lua": timed(
            lambda: decide(caller=caller, post=post, now=timezone.now(), preview=True), args.runs
        ),
        "post_publish(preview=True), whole service": timed(
            lambda: post_publish(caller=caller, post=post, preview=True), args.runs
        ),
    }
    # Whole publishes: fresh senders who share the circle (budgets fill up as they go).
    publish_times, answers = [], []
    for i in range(args.publishes):
        sender = Customer.objects.create(
            brand=brand, external_id=f"{brand.slug}-p{i}", display_name=f"p{i}"
        )
        Friendship.objects.bulk_create(
            Friendship(
                brand=brand,
                customer_low_id=min(sender.pk, f),
                customer_high_id=max(sender.pk, f),
                since=now,
            )
            for f in circle
        )
        fresh = Post.objects.create(brand=brand, author=sender, text="promo #ad", commercial=True)
        who = Caller(kind=CallerKind.CUSTOMER, brand_id=brand.pk, customer_id=sender.pk)
        began = time.perf_counter()
        answers.append(post_publish(caller=who, post=fresh))
        publish_times.append(time.perf_counter() - began)
    results["post_publish (consume + INSERT + ledger)"] = publish_times

    for name, samples in results.items():
        print(line(name, samples))
    first, last = answers[0], answers[-1]
    print(
        f"publishes: first delivered {first['delivered']} suppressed {first['suppressed']}; "
        f"last delivered {last['delivered']} suppressed {last['suppressed']}"
    )
    load = os.getloadavg()
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    preview = statistics.median(results["post_publish(preview=True), whole service"])
    baseline = statistics.median(results["baseline: bare friends query"])
    print(f"median preview / baseline: {preview / baseline:.1f}×")


if __name__ == "__main__":
    main()
