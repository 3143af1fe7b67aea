"""Ingest N events through the HTTP batch endpoint vs raw COPY of the same rows.

    python -m scrm.devservers -- .venv/bin/python bench/ingest.py [--events 1000000]
        [--workers 3] [--threads 6] [--batch 1000] [--duplicates 0.05]

Starts gunicorn (``--workers`` processes, persistent DB connections) on a free port, sends
the events as ``interactions/batch/`` requests of ``--batch`` events from ``--threads``
keep-alive client connections (a share of events is re-sent later as duplicates), then
COPYs exactly the rows that were stored into an identical table (``LIKE … INCLUDING ALL``
plus the same foreign keys: same columns, defaults, checks, indexes and constraints) and
prints events/s for both and their ratio.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

from _setup import ROOT, django_ready, make_graph

POSTS_PER_AUTHOR = 5
TYPES = ["view"] * 60 + ["click"] * 15 + ["comment"] * 10 + ["forward"] * 5 + ["like"] * 10


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def build_batches(args, posts: list[tuple[int, list[int]]]) -> list[bytes]:
    """JSON bodies of ``args.batch`` events; ``args.duplicates`` of them repeat earlier ids."""
    from django.utils import timezone

    rng = random.Random(42)
    now = timezone.now()
    stamps = [(now - timedelta(seconds=s)).isoformat() for s in range(0, 86_400, 7)]
    liked: set[tuple[int, int]] = set()
    sent: list[dict] = []
    bodies, batch = [], []
    for n in range(args.events):
        if sent and rng.random() < args.duplicates:
            event = sent[rng.randrange(max(0, len(sent) - 50_000), len(sent))]
        else:
            post, circle = posts[rng.randrange(len(posts))]
            actor = circle[rng.randrange(len(circle))]
            kind = TYPES[rng.randrange(len(TYPES))]
            if kind == "like":
                if (actor, post) in liked:
                    kind = "view"
                else:
                    liked.add((actor, post))
            event = {
                "event_id": f"ev-{n}",
                "type": kind,
                "actor": actor,
                "post": post,
                "occurred_at": stamps[rng.randrange(len(stamps))],
                "payload": {"src": "bench", "n": n},
            }
            sent.append(event)
        batch.append(event)
        if len(batch) == args.batch:
            bodies.append(json.dumps({"events": batch}).encode())
            batch = []
    if batch:
        bodies.append(json.dumps({"events": batch}).encode())
    return bodies


def start_server(args, port: int) -> subprocess.Popen:
    env = {**os.environ, "DEBUG": "0", "CONN_MAX_AGE": "600", "LOG_LEVEL": "WARNING"}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "scrm.wsgi",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            "1",
            "--keep-alive",
            "30",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            conn.request("GET", "/healthz")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not come up")


def send_all(args, port: int, key: str, bodies: list[bytes]) -> tuple[float, Counter]:
    tally: Counter = Counter()
    lock = threading.Lock()
    work = iter(enumerate(bodies))
    errors: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Api-Key {key}", "Content-Type": "application/json"}
        local: Counter = Counter()
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                break
            conn.request("POST", "/api/v1/interactions/batch/", body=item[1], headers=headers)
            response = conn.getresponse()
            data = response.read()
            if response.status != 200:
                errors.append(f"{response.status} {data[:200]!r}")
                continue
            for result in json.loads(data)["results"]:
                local[result["status"]] += 1
                if result["error"]:
                    local["error: " + result["error"]["message"][:40]] += 1
        with lock:
            tally.update(local)

    threads = [threading.Thread(target=client) for _ in range(args.threads)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if errors:
        print(f"{len(errors)} failed requests, first: {errors[0]}", file=sys.stderr)
    return elapsed, tally


def copy_baseline(brand_id: int) -> tuple[int, float]:
    """COPY the stored rows (already in client memory) into an identical table."""
    from django.db import connection

    columns = (
        "brand_id, event_id, type, actor_id, target_id, post_id, forwarded_from, "
        "chain_depth, occurred_at, received_at, payload"
    )
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_interaction_copy")
        cursor.execute(
            "CREATE TABLE bench_interaction_copy (LIKE interactions_interaction INCLUDING ALL)"
        )
        # LIKE copies columns, defaults, checks and indexes but not foreign keys: add the same
        # ones, so both sides pay for the same constraints.
        cursor.execute(
            """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                WHERE conrelid = 'interactions_interaction'::regclass AND contype = 'f'"""
        )
        for name, definition in cursor.fetchall():
            cursor.execute(
                f"ALTER TABLE bench_interaction_copy ADD CONSTRAINT {name}_copy {definition}"
            )
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'interactions_interaction'"
        )
        print("indexes on the log (and its copy):")
        for (definition,) in cursor.fetchall():
            print("   ", definition.split(" USING ", 1)[-1])
        raw = cursor.connection.cursor()
        buffer = io.BytesIO()
        with raw.copy(
            f"COPY (SELECT {columns} FROM interactions_interaction WHERE brand_id = {brand_id}) "
            "TO STDOUT"
        ) as copy:
            for chunk in copy:
                buffer.write(chunk)
        data = buffer.getvalue()
        rows = data.count(b"\n")
        started = time.perf_counter()
        with raw.copy(f"COPY bench_interaction_copy ({columns}) FROM STDIN") as copy:
            step = 1 << 20
            for offset in range(0, len(data), step):
                copy.write(data[offset : offset + step])
        connection.commit() if not connection.get_autocommit() else None
        elapsed = time.perf_counter() - started
    return rows, elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=6)
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--authors", type=int, default=20)
    parser.add_argument("--friends", type=int, default=1_000)
    args = parser.parse_args()
    django_ready()

    from campaigns.models import Post
    from campaigns.services.publish import post_publish
    from scrm.tenancy.models import Brand
    from scrm.tenancy.services import Caller, CallerKind, app_key_create

    started = time.perf_counter()
    brand, authors, friends = make_graph(
        brand_name=f"bench-ingest-{time.time_ns()}",
        authors=args.authors,
        friends_per_author=args.friends,
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
    print(
        f"setup: {len(authors) * (args.friends + 1)} customers, {len(posts)} posts, "
        f"{len(posts) * args.friends} deliveries, {len(bodies)} request bodies "
        f"in {time.perf_counter() - started:.1f}s"
    )

    from django.db import connection

    connection.close()
    port = free_port()
    server = start_server(args, port)
    try:
        elapsed, tally = send_all(args, port, key, bodies)
    finally:
        server.terminate()
        server.wait(timeout=30)
    for name in [name for name in tally if name.startswith("error: ")]:
        print(f"  {tally.pop(name)} × {name}")
    total = sum(tally.values())
    http_rate = total / elapsed
    print(
        f"HTTP batch ingest: {total} events ({dict(tally)}) in {elapsed:.1f}s "
        f"= {http_rate:,.0f} events/s  [workers={args.workers} threads={args.threads} "
        f"batch={args.batch}]"
    )
    rows, copy_elapsed = copy_baseline(brand.pk)
    copy_rate = rows / copy_elapsed
    print(f"raw COPY:          {rows} rows in {copy_elapsed:.2f}s = {copy_rate:,.0f} rows/s")
    print(f"ratio HTTP ingest / raw COPY: {http_rate / copy_rate:.3f}")


if __name__ == "__main__":
    main()
