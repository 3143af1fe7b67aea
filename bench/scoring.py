"""Incremental scoring throughput and delay through a real Celery worker on a real Redis broker.

    .venv/bin/python bench/scoring.py --events 200000

Starts `celery -A scrm worker -Q scoring -c 4` (`--concurrency`) as a subprocess (and
throwaway PostgreSQL and Redis with scrm.devservers when DATABASE_URL/REDIS_URL are unset).
Events are ingested with the real service (interactions_ingest, 1,000 per call; each commit
queues one interactions.score_batch task).
  phase 1, throughput: the queue is filled with the worker stopped, then the worker drains
           it; events/s = events / (time the outbox is empty − time the first batch left it),
           polled every 10 ms.
  phase 2, delay: batches are ingested at --rate events/s with the worker running; a poller
           thread (own connection, every 10 ms) notes when each ingest batch has left the
           scoring outbox, i.e. when the worker transaction that applied it to the ties has
           committed; delay of every event of a batch = that time − the wall time its ingest
           call returned (after commit). Conservative: the whole batch counts as late as
           its last event.
Then the tie table's rows inserted, updated and updated HOT (pg_stat_user_tables, after the
worker has stopped). Goal (issue #4): ≥ 30,000 events/s, p99 delay ≤ 2 s.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TYPES = ["view", "click", "message", "reply", "purchase", "click", "message", "view"]


def reexec_under_devservers() -> None:
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    cmd = [sys.executable, "-m", "scrm.devservers", "--", sys.executable, *sys.argv]
    sys.exit(subprocess.call(cmd, cwd=ROOT))


def setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scrm.settings.test")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_worker(concurrency: int) -> subprocess.Popen:
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "scrm", "worker", "-Q", "scoring"]
        + ["-c", str(concurrency), "--loglevel", "WARNING"],
        cwd=ROOT,
        env={**os.environ},
        start_new_session=True,
    )


def stop_worker(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def make_events(rng, people: list[int], n: int, prefix: str, now) -> list[dict]:
    events = []
    for i in range(n):
        actor = people[min(int(rng.paretovariate(1.2)) - 1, len(people) - 1)]
        target = rng.choice(people)
        if target == actor:
            target = people[(people.index(actor) + 1) % len(people)]
        events.append(
            {
                "event_id": f"{prefix}{i}",
                "type": rng.choice(TYPES),
                "actor": actor,
                "target": target,
                "occurred_at": (now - timedelta(seconds=rng.random() * 86400 * 30)).isoformat(),
            }
        )
    return events


def pending(brand_id: int) -> int:
    from interactions.models import ScoringPending

    return ScoringPending.objects.filter(brand_id=brand_id).count()


class Poller(threading.Thread):
    """Notes the wall time at which each watched id batch has left the scoring outbox."""

    def __init__(self):
        super().__init__(daemon=True)
        self.watch: dict[int, list[int]] = {}
        self.done: dict[int, float] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()

    def add(self, key: int, ids: list[int]) -> None:
        with self.lock:
            self.watch[key] = ids

    def run(self) -> None:
        from django.db import connection

        try:
            while not self.stop.is_set():
                with self.lock:
                    items = list(self.watch.items())
                if items:
                    with connection.cursor() as cur:
                        cleared = []
                        for key, ids in items:
                            cur.execute(
                                "SELECT EXISTS (SELECT 1 FROM interactions_scoring_pending "
                                "WHERE interaction_id = ANY(%s::bigint[]))",
                                [ids],
                            )
                            if not cur.fetchone()[0]:
                                cleared.append(key)
                    now = time.time()
                    with self.lock:
                        for key in cleared:
                            self.watch.pop(key, None)
                            self.done[key] = now
                time.sleep(0.01)
        finally:
            connection.close()


def tie_write_stats() -> dict[str, int]:
    """Rows inserted/updated in the tie table, and updates that were HOT (statistics are
    flushed when the worker's connections close: call after stopping it)."""
    from django.db import connection

    time.sleep(1.0)
    with connection.cursor() as cur:
        cur.execute(
            """SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables
                WHERE relname = 'interactions_tie'"""
        )
        ins, upd, hot = cur.fetchone()
    return {"ins": ins, "upd": upd, "hot": hot}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rate", type=int, default=10_000, help="phase 2 events/s")
    parser.add_argument("--seconds", type=int, default=15, help="phase 2 duration")
    args = parser.parse_args()
    reexec_under_devservers()
    setup_django()
    from django.utils import timezone

    from interactions.services import interactions_ingest
    from scrm.tenancy.models import Brand
    from scrm.tenancy.services import Caller, CallerKind
    from tests.factories import CustomerFactory

    rng = random.Random(7)
    brand = Brand.objects.create(name="Scoring bench", slug=f"scoring-{time.time_ns()}")
    people = [c.pk for c in CustomerFactory.create_batch(args.customers, brand=brand)]
    caller = Caller(kind=CallerKind.STAFF, brand_id=brand.pk, user_id=None, role="manager")
    now = timezone.now()

    # phase 1: fill the queue, then drain it
    t = time.perf_counter()
    for start in range(0, args.events, 1000):
        interactions_ingest(
            caller=caller, events=make_events(rng, people, 1000, f"p1-{start}-", now)
        )
    ingest_seconds = time.perf_counter() - t
    print(
        f"phase 1: ingested {args.events:,} events in {ingest_seconds:.1f} s "
        f"({args.events / ingest_seconds:,.0f}/s, worker stopped)"
    )
    worker = start_worker(args.concurrency)
    try:
        deadline = time.monotonic() + 600
        first, left_at_first, now_t = None, 0, time.perf_counter()
        while time.monotonic() < deadline:
            left = pending(brand.pk)
            now_t = time.perf_counter()
            if first is None and left < args.events:
                first, left_at_first = now_t, left
            if left == 0:
                break
            time.sleep(0.01)
        span = now_t - first
        scored = left_at_first  # scored between the two observations
        rate = scored / span if span else float("nan")
        print(
            f"phase 1: worker -c {args.concurrency} scored {scored:,} events in {span:.2f} s"
            f" → {rate:,.0f} events/s"
        )

        # phase 2: paced ingest with the worker running
        poller = Poller()
        poller.start()
        commits: dict[int, float] = {}
        batch = 1000
        interval = batch / args.rate
        end = time.monotonic() + args.seconds
        next_at = time.monotonic()
        i = 0
        while time.monotonic() < end:
            events = make_events(rng, people, batch, f"p2-{i}-", timezone.now())
            results = interactions_ingest(caller=caller, events=events)
            commits[i] = time.time()
            poller.add(i, [r.id for r in results if r.id is not None])
            i += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        sent = len(commits) * batch
        offered = sent / args.seconds
        deadline = time.monotonic() + 120
        while pending(brand.pk) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.1)
        poller.stop.set()
        poller.join()
    finally:
        stop_worker(worker)
    hot = tie_write_stats()
    delays = sorted(
        poller.done[key] - committed
        for key, committed in commits.items()
        if key in poller.done
        for _ in range(batch)
    )
    p50 = delays[len(delays) // 2]
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"phase 2: {sent:,} events offered at {offered:,.0f}/s; delay ingest commit → tie "
        f"update committed p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {delays[-1] * 1000:.0f} ms"
    )
    print(
        f"tie rows: {hot['ins']:,} inserted, {hot['upd']:,} updated, of which "
        f"{hot['hot']:,} HOT ({hot['hot'] / max(hot['upd'], 1):.0%}; no index entries written)"
    )
    print(
        f"\nthroughput {rate:,.0f} events/s (goal ≥ 30,000), p99 {p99:.2f} s (goal ≤ 2 s); "
        f"baseline in the same run: ingest alone {args.events / ingest_seconds:,.0f} events/s"
    )


if __name__ == "__main__":
    main()
