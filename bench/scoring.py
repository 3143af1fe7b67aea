"""Incremental scoring throughput and delay through a real Celery worker on a real Redis broker.

    .venv/bin/python bench/scoring.py --events 200000

Starts `celery -A scrm worker -Q scoring -c 2` as a subprocess (and throwaway PostgreSQL and
Redis with scrm.devservers when DATABASE_URL/REDIS_URL are unset). Events are ingested with
the real service (interactions_ingest, 1,000 per call; each commit queues one
interactions.score_batch task).
  phase 1, throughput: the queue is filled with the worker stopped, then the worker drains
           it; events/s = events / (last scored_at − first scored_at).
  phase 2, delay: batches are ingested at --rate events/s with the worker running; delay of
           an event = its scored_at (taken when the worker's transaction starts) − the wall
           time its ingest call returned (after commit).
Goal (issue #4): ≥ 30,000 events/s, p99 delay ≤ 2 s.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
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


def unscored(brand_id: int) -> int:
    from interactions.models import Interaction

    return Interaction.objects.filter(brand_id=brand_id, scored_at__isnull=True).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--concurrency", type=int, default=2)
    parser.add_argument("--rate", type=int, default=10_000, help="phase 2 events/s")
    parser.add_argument("--seconds", type=int, default=15, help="phase 2 duration")
    args = parser.parse_args()
    reexec_under_devservers()
    setup_django()
    from django.db import connection
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
        while unscored(brand.pk) and time.monotonic() < deadline:
            time.sleep(0.2)
        with connection.cursor() as cur:
            cur.execute(
                """SELECT count(*), date_part('epoch', max(scored_at) - min(scored_at))
                     FROM interactions_interaction WHERE brand_id = %s""",
                [brand.pk],
            )
            scored, span = cur.fetchone()
        rate = scored / span if span else float("nan")
        per_task_ms = 1000 * span / max(scored / 1000, 1) * args.concurrency
        print(
            f"phase 1: worker -c {args.concurrency} scored {scored:,} events in {span:.2f} s"
            f" → {rate:,.0f} events/s (≈ {per_task_ms:.0f} ms per 1,000-event task)"
        )

        # phase 2: paced ingest with the worker running
        commits: list[tuple[float, list[str]]] = []
        batch = 1000
        interval = batch / args.rate
        end = time.monotonic() + args.seconds
        next_at = time.monotonic()
        i = 0
        while time.monotonic() < end:
            events = make_events(rng, people, batch, f"p2-{i}-", timezone.now())
            interactions_ingest(caller=caller, events=events)
            commits.append((time.time(), [e["event_id"] for e in events]))
            i += 1
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))
        sent = len(commits) * batch
        offered = sent / args.seconds
        deadline = time.monotonic() + 120
        while unscored(brand.pk) and time.monotonic() < deadline:
            time.sleep(0.2)
        with connection.cursor() as cur:
            cur.execute(
                """SELECT event_id, date_part('epoch', scored_at)
                     FROM interactions_interaction
                    WHERE brand_id = %s AND event_id LIKE 'p2-%%'""",
                [brand.pk],
            )
            scored_at = dict(cur.fetchall())
    finally:
        stop_worker(worker)
    delays = sorted(
        scored_at[event_id] - committed
        for committed, ids in commits
        for event_id in ids
        if scored_at.get(event_id) is not None
    )
    p50 = delays[len(delays) // 2]
    p99 = delays[min(len(delays) - 1, int(len(delays) * 0.99))]
    print(
        f"phase 2: {sent:,} events offered at {offered:,.0f}/s; delay ingest commit → tie "
        f"update p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, max {delays[-1] * 1000:.0f} ms"
    )
    print(
        f"\nthroughput {rate:,.0f} events/s (goal ≥ 30,000), p99 {p99:.2f} s (goal ≤ 2 s); "
        f"baseline in the same run: ingest alone {args.events / ingest_seconds:,.0f} events/s"
    )


if __name__ == "__main__":
    main()
