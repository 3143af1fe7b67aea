"""Publish a post to N friends (default 5,000) and compare with a bare INSERT … SELECT.

    python -m scrm.devservers -- .venv/bin/python bench/publish.py [--friends 5000] [--runs 5]

The service path locks the post, asks the fatigue decision (the author's history and every
friend's state in two queries, the pure rules, the Redis counters), fans out with one
INSERT … SELECT, stores the decision. The sender-level rules are switched off so that every
run publishes (they are measured by bench/fatigue_live.py); the recipient rules stay on.
The baseline inserts the same rows with one bare INSERT … SELECT from the friendships (no
decision, no flags).
"""

from __future__ import annotations

import argparse
import statistics
import time

from _setup import django_ready, make_graph


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--friends", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    django_ready()

    from django.db import connection, transaction
    from django.utils import timezone

    from campaigns.models import Post
    from campaigns.services.fatigue_policy import fatigue_policy_update
    from campaigns.services.publish import post_publish
    from interactions.models import Tie
    from scrm.tenancy.services import Caller, CallerKind

    brand, (author,), friends = make_graph(
        brand_name=f"bench-publish-{time.time_ns()}", authors=1, friends_per_author=args.friends
    )
    circle = friends[author]
    # a realistic sprinkle of pair flags: 1% muted, 0.2% blocked
    Tie.objects.bulk_create(
        [
            Tie(brand=brand, source_id=c, target_id=author, muted_at=timezone.now())
            for c in circle[::100]
        ]
        + [
            Tie(brand=brand, source_id=c, target_id=author, blocked_at=timezone.now())
            for c in circle[7::500]
        ]
    )
    caller = Caller(kind=CallerKind.CUSTOMER, brand_id=brand.pk, customer_id=author)
    fatigue_policy_update(
        brand_id=brand.pk,
        data={"enabled_rules": ["cooldown", "recipient_daily_cap", "recipient_weekly_cap"]},
        partial=True,
    )

    service, baseline = [], []
    for _ in range(args.runs):
        post = Post.objects.create(brand=brand, author_id=author, text="bench", commercial=True)
        started = time.perf_counter()
        answer = post_publish(caller=caller, post=post)
        service.append(time.perf_counter() - started)

        other = Post.objects.create(brand=brand, author_id=author, text="baseline")
        started = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO campaigns_delivery (brand_id, post_id, recipient_id, status, reason,
                                                created_at)
                SELECT %(b)s, %(p)s, rid, 'delivered', '', now() FROM (
                    SELECT customer_high_id AS rid FROM customers_friendship
                     WHERE customer_low_id = %(a)s AND ended_at IS NULL
                    UNION ALL
                    SELECT customer_low_id FROM customers_friendship
                     WHERE customer_high_id = %(a)s AND ended_at IS NULL) AS f
                """,
                {"b": brand.pk, "p": other.pk, "a": author},
            )
        baseline.append(time.perf_counter() - started)

    print(f"friends={args.friends} runs={args.runs} last answer={answer}")
    print(f"post_publish        median {statistics.median(service) * 1000:8.1f} ms")
    print(f"bare INSERT…SELECT  median {statistics.median(baseline) * 1000:8.1f} ms")
    ratio = statistics.median(service) / statistics.median(baseline)
    print(f"ratio service/baseline      {ratio:.2f}×")


if __name__ == "__main__":
    main()
