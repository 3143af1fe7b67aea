"""Ingest N events through the HTTP batch endpoint vs raw COPY of the same rows.

    python -m scrm.devservers -- .venv/bin/python bench/ingest.py [--events 1000000]
        [--workers 3] [--server-threads 1] [--threads 6] [--batch 1000]
        [--duplicates 0.05] [--copy-runs 3]

Starts gunicorn (``--workers`` processes of ``--server-threads`` threads, persistent DB
connections) on a free port, sends the events as ``interactions/batch/`` requests of
``--batch`` events from ``--threads`` keep-alive client connections (a share of events is
re-sent later as duplicates), then COPYs exactly the rows that were stored into an identical
table (``LIKE … INCLUDING ALL`` plus the same foreign keys: same columns, defaults, checks,
indexes and constraints), ``--copy-runs`` times into a fresh table, and prints events/s for
both, their ratio (against the fastest COPY), the load average and the CPU time per 1,000
events of gunicorn, PostgreSQL and the client (wall-clock rates are noisy on a shared
machine; CPU per event much less).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import random
import resource
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta

import orjson
from _setup import ROOT, django_ready, make_graph

POSTS_PER_AUTHOR = 5
TYPES = ["view"] * 60 + ["click"] * 15 + ["comment"] * 10 + ["forward"] * 5 + ["like"] * 10


def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as handle:
        return handle.read().rsplit(")", 1)[1].split()


def tree_cpu(parent: int) -> float:
    """CPU seconds used so far by a process with its exited children (reaped backends or
    workers) and its live children, from Linux /proc: the PostgreSQL cluster is its
    postmaster's tree, the HTTP server gunicorn's."""
    tick = os.sysconf("SC_CLK_TCK")
    fields = _stat(parent)
    total = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                fields = _stat(int(entry))
            except OSError:
                continue
            if int(fields[1]) == parent:
                total += int(fields[11]) + int(fields[12])
    return total / tick


def postmaster_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(_stat(cursor.fetchone()[0])[1])


def own_cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


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
            str(args.server_threads),
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
            for result in orjson.loads(data)["results"]:
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


def copy_baseline(brand_id: int, runs: int, postmaster: int) -> tuple[int, list, list]:
    """COPY the stored rows (already in client memory) into an identical, fresh table.

    ``runs`` times, each into a new table: on a shared machine one COPY can take twice as
    long as the next, so the ratio is taken against the fastest (the harder comparison).
    """
    from django.db import connection

    columns = (
        "brand_id, event_id, type, actor_id, target_id, post_id, forwarded_from, "
        "chain_depth, occurred_at, received_at, payload"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'interactions_interaction'"
        )
        print("indexes on the log (and its copy):")
        for (definition,) in cursor.fetchall():
            print("   ", definition.split(" USING ", 1)[-1])
        # LIKE copies columns, defaults, checks and indexes but not foreign keys: add the same
        # ones, so both sides pay for the same constraints.
        cursor.execute(
            """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                WHERE conrelid = 'interactions_interaction'::regclass AND contype = 'f'"""
        )
        foreign_keys = cursor.fetchall()
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
        timings, cpu = [], []
        for _ in range(runs):
            cursor.execute("DROP TABLE IF EXISTS bench_interaction_copy")
            cursor.execute(
                "CREATE TABLE bench_interaction_copy (LIKE interactions_interaction INCLUDING ALL)"
            )
            for name, definition in foreign_keys:
                cursor.execute(
                    f"ALTER TABLE bench_interaction_copy ADD CONSTRAINT {name}_copy {definition}"
                )
            started, cpu_before = time.perf_counter(), tree_cpu(postmaster)
            with raw.copy(f"COPY bench_interaction_copy ({columns}) FROM STDIN") as copy:
                step = 1 << 20
                for offset in range(0, len(data), step):
                    copy.write(data[offset : offset + step])
            connection.commit() if not connection.get_autocommit() else None
            timings.append(time.perf_counter() - started)
            cpu.append(tree_cpu(postmaster) - cpu_before)
        cursor.execute("DROP TABLE bench_interaction_copy")
    return rows, timings, cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=6, help="client connections")
    parser.add_argument("--server-threads", type=int, default=1, help="per gunicorn worker")
    parser.add_argument("--duplicates", type=float, default=0.05)
    parser.add_argument("--copy-runs", type=int, default=3, help="COPY baseline repeats")
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

    with connection.cursor() as cursor:  # as autovacuum would have by now in a live system
        cursor.execute(
            "ANALYZE customers_customer, customers_friendship, campaigns_post, campaigns_delivery"
        )
    postmaster = postmaster_pid()
    connection.close()
    port = free_port()
    server = start_server(args, port)
    load_before = os.getloadavg()[0]
    cpu_pg, cpu_client = tree_cpu(postmaster), own_cpu(resource.RUSAGE_SELF)
    cpu_server = tree_cpu(server.pid)  # after the workers' start-up
    try:
        elapsed, tally = send_all(args, port, key, bodies)
    finally:
        cpu_pg = tree_cpu(postmaster) - cpu_pg
        cpu_client = own_cpu(resource.RUSAGE_SELF) - cpu_client
        cpu_server = tree_cpu(server.pid) - cpu_server
        server.terminate()
        server.wait(timeout=30)
    load_http = os.getloadavg()[0]
    for name in [name for name in tally if name.startswith("error: ")]:
        print(f"  {tally.pop(name)} × {name}")
    total = sum(tally.values())
    http_rate = total / elapsed
    print(
        f"HTTP batch ingest: {total} events ({dict(tally)}) in {elapsed:.1f}s "
        f"= {http_rate:,.0f} events/s  [gunicorn workers={args.workers} "
        f"threads={args.server_threads}, client connections={args.threads}, "
        f"batch={args.batch}; load {load_before:.1f} → {load_http:.1f}]"
    )
    rows, timings, copy_cpu = copy_baseline(brand.pk, args.copy_runs, postmaster)
    copy_rate = rows / min(timings)
    print(
        f"raw COPY:          {rows} rows in {min(timings):.2f}s = {copy_rate:,.0f} rows/s  "
        f"(fastest of {', '.join(f'{t:.2f}s' for t in timings)}; load {os.getloadavg()[0]:.1f})"
    )
    per_k = 1000 / total
    print(
        f"CPU per 1,000 events: HTTP {per_k * (cpu_server + cpu_pg + cpu_client) * 1000:.0f} ms "
        f"(gunicorn {per_k * cpu_server * 1000:.0f}, PostgreSQL {per_k * cpu_pg * 1000:.0f}, "
        f"client {per_k * cpu_client * 1000:.0f}); COPY {1e6 * min(copy_cpu) / rows:.0f} ms "
        "(PostgreSQL, least of the runs)"
    )
    print(f"ratio HTTP ingest / raw COPY: {http_rate / copy_rate:.3f}")


if __name__ == "__main__":
    main()
