"""Profile the batch endpoint in-process: where a 1,000-event request spends its time.

    python -m scrm.devservers -- .venv/bin/python bench/ingest_profile.py [--requests 30]
        [--skip 5] [--sort tottime] [--top 30]

Same data as ``bench/ingest.py`` (graph, posts, bodies with duplicates), sent through
Django's test client (the whole middleware and DRF stack, no network) under cProfile after
``--skip`` warm-up requests; prints the mean time per request and the top functions.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from collections import Counter

from _setup import django_ready, make_graph
from ingest import POSTS_PER_AUTHOR, build_batches


def time_statements(plans: list[str]) -> Counter:
    """Wrap the ingest service's statement runner and the commit: wall time per statement.

    The plans of the read statements of the latest request are kept in ``plans``.
    """
    from django.db.backends.base.base import BaseDatabaseWrapper

    from interactions import services

    spent: Counter = Counter()
    run = services._fetch

    def timed(sql: str, params):
        started = time.perf_counter()
        try:
            return run(sql, params)
        finally:
            spent[" ".join(sql.split()[:8])[:70]] += time.perf_counter() - started
            if "INSERT INTO" not in sql:  # the lookup; never re-run a write
                plans[:] = [row[0] for row in run(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)]

    services._fetch = timed
    commit = BaseDatabaseWrapper.commit

    def timed_commit(self):
        started = time.perf_counter()
        try:
            return commit(self)
        finally:
            spent["COMMIT (deferred foreign-key checks)"] += time.perf_counter() - started

    BaseDatabaseWrapper.commit = timed_commit
    return spent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--skip", type=int, default=5)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--sort", default="tottime")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--callers", default="", help="show callers of matching functions")
    parser.add_argument("--explain", action="store_true", help="EXPLAIN ANALYZE the lookups")
    args = parser.parse_args()
    args.events = (args.requests + args.skip) * args.batch
    django_ready()

    from django.test import Client

    from campaigns.models import Post
    from campaigns.services.publish import post_publish
    from scrm.tenancy.models import Brand
    from scrm.tenancy.services import Caller, CallerKind, app_key_create

    brand, authors, friends = make_graph(
        brand_name=f"bench-profile-{time.time_ns()}", authors=20, friends_per_author=1_000
    )
    posts = []
    for author in authors:
        caller = Caller(kind=CallerKind.CUSTOMER, brand_id=brand.pk, customer_id=author)
        for i in range(POSTS_PER_AUTHOR):
            post = Post.objects.create(brand=brand, author_id=author, text=f"post {i}")
            post_publish(caller=caller, post=post)
            posts.append((post.pk, friends[author]))
    key = app_key_create(brand=Brand.objects.get(pk=brand.pk), name="bench").raw_key
    bodies = build_batches(args, posts)
    client = Client(HTTP_AUTHORIZATION=f"Api-Key {key}", HTTP_HOST="127.0.0.1")

    def send(body: bytes) -> None:
        response = client.post(
            "/api/v1/interactions/batch/", data=body, content_type="application/json"
        )
        if response.status_code != 200:
            sys.exit(f"{response.status_code} {response.content[:300]!r}")

    for body in bodies[: args.skip]:
        send(body)
    plans: list[str] = []
    sql_time = time_statements(plans)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for body in bodies[args.skip :]:
        send(body)
    profiler.disable()
    elapsed = time.perf_counter() - started
    n = len(bodies) - args.skip
    print(
        f"{n} requests of {args.batch} events: {1000 * elapsed / n:.1f} ms per request "
        f"(profiled), {n * args.batch / elapsed:,.0f} events/s in one process"
    )
    print("statements of interactions_ingest, ms per request (wall, incl. binding):")
    for label, seconds in sorted(sql_time.items(), key=lambda kv: -kv[1]):
        print(f"  {1000 * seconds / n:7.2f}  {label}")
    if args.explain:
        print("plan of the lookup statement of the last request:")
        print("\n".join(plans))
    stats = pstats.Stats(profiler)
    stats.sort_stats(args.sort).print_stats(args.top)
    if args.callers:
        stats.print_callers(args.callers)


if __name__ == "__main__":
    main()
