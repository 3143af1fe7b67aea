"""Mixed load against the service as production runs it: gunicorn with several workers and a
Celery worker, on this machine, driven by locust for a bounded time.

    python -m scrm.devservers -- .venv/bin/python bench/load.py [--duration 300]
        [--users 24] [--spawn-rate 8] [--workers 4] [--celery 2] [--customers 5000]
        [--batch 100] [--ingest-rate 100000/min]

Setup (a subprocess with Django): ``seed_demo`` builds a brand's network (brand accounts,
consumers, advocates, friendships), a staff owner with a token and an app key. Then gunicorn
(``--workers`` sync workers, persistent connections) and a Celery worker (``--celery``
processes on every queue) start on free local ports, and locust users run for ``--duration``
seconds (default 5 minutes):

- mini-program (app key): ``interactions/batch/`` of ``--batch`` events, and now and then a
  customer token minted with ``auth/customer-token/``;
- customers (customer tokens): ``feed/``, their ``ties/``;
- staff (staff token): lists — ``customers/`` (plain and filtered), ``friendships/``,
  ``advocates/``, ``interactions/``, ``posts/`` — and a draft by a brand account, its
  ``publish-preview/`` and ``publish/``.

Prints requests/s, p50/p99 and errors per endpoint, every status code seen, and then the
checks: no 5xx, and no lost event — every event the API acknowledged as ``created`` is in
the log (and the scoring outbox drains). Exit status 1 if a check fails. Traffic goes to
127.0.0.1 only. The ingest limit per app key is raised for the run (``--ingest-rate``; the
default production limit would make the mini-program's share mostly 429s by design).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


def server_env(args) -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "scrm.settings.local",
        "DEBUG": "0",
        "CONN_MAX_AGE": "600",
        "LOG_LEVEL": "WARNING",
        "INGEST_THROTTLE_RATE": args.ingest_rate,
        "PYTHONWARNINGS": "ignore",
    }


# --- setup, in a subprocess (Django; locust's gevent patching stays out of it) ---------------


def setup(args) -> None:
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from django.contrib.auth import get_user_model

    from customers.models import Customer
    from scrm.tenancy import services as tenancy
    from scrm.tenancy.models import Brand, Membership, Role

    slug = f"load-{int(time.time())}"
    call_command("seed_demo", customers=args.customers, brand=slug, no_progress=True, verbosity=0)
    brand = Brand.objects.get(slug=slug)
    user = get_user_model().objects.create_user(username=f"{slug}-owner", password=None)
    Membership.objects.create(user=user, brand=brand, role=Role.OWNER)
    people = Customer.objects.filter(brand=brand)
    world = {
        "brand": brand.pk,
        "staff": tenancy.staff_token_issue(user=user, brand=brand).token,
        "app_key": tenancy.app_key_create(brand=brand, name="load").raw_key,
        "brand_accounts": list(
            people.filter(kind="brand_account").values_list("pk", flat=True)[:50]
        ),
        "consumers": list(people.filter(kind="consumer").values_list("pk", "external_id")),
    }
    print(json.dumps(world))


# --- the locust users --------------------------------------------------------------------------


def define_users(world: dict, args, acknowledged: Counter):
    from locust import HttpUser, between, task

    consumers = world["consumers"]
    staff = {"Authorization": f"Bearer {world['staff']}"}
    app = {"Authorization": f"Api-Key {world['app_key']}"}
    tokens: list[tuple[int, str]] = []
    run = uuid.uuid4().hex[:8]
    kinds = ["message", "click", "reply", "purchase", "message", "click"]

    def events(n: int) -> list[dict]:
        now = datetime.now(UTC)
        out = []
        for _ in range(n):
            (actor, _), (target, _) = random.sample(consumers, 2)
            out.append(
                {
                    "event_id": f"load-{run}-{uuid.uuid4().hex}",
                    "type": random.choice(kinds),
                    "actor": actor,
                    "target": target,
                    "occurred_at": (now - timedelta(seconds=random.randrange(86400))).isoformat(),
                }
            )
        return out

    class MiniProgram(HttpUser):
        weight = 3
        wait_time = between(0.05, 0.3)

        @task(8)
        def ingest_batch(self):
            with self.client.post(
                "/api/v1/interactions/batch/",
                json={"events": events(args.batch)},
                headers=app,
                name="POST interactions/batch/",
                catch_response=True,
            ) as response:
                if response.status_code == 200:
                    statuses = Counter(r["status"] for r in response.json()["results"])
                    acknowledged["created"] += statuses["created"]
                    acknowledged["other"] += statuses["duplicate"] + statuses["rejected"]
                elif response.status_code < 500:
                    response.success()  # 4xx (e.g. 429) are answers, counted by status

        @task(1)
        def customer_token(self):
            pk, external_id = random.choice(consumers)
            response = self.client.post(
                "/api/v1/auth/customer-token/",
                json={"external_id": external_id},
                headers=app,
                name="POST auth/customer-token/",
            )
            if response.status_code == 201:
                tokens.append((pk, response.json()["token"]))
                del tokens[:-500]

    class Customer(HttpUser):
        weight = 4
        wait_time = between(0.1, 0.5)

        def on_start(self):
            pk, external_id = random.choice(consumers)
            response = self.client.post(
                "/api/v1/auth/customer-token/",
                json={"external_id": external_id},
                headers=app,
                name="POST auth/customer-token/",
            )
            self.pk = pk
            self.auth = {"Authorization": f"Bearer {response.json()['token']}"}

        @task(5)
        def feed(self):
            self.client.get("/api/v1/feed/", headers=self.auth, name="GET feed/")

        @task(1)
        def ties(self):
            self.client.get(
                f"/api/v1/customers/{self.pk}/ties/",
                headers=self.auth,
                name="GET customers/{id}/ties/",
            )

    class Staff(HttpUser):
        weight = 2
        wait_time = between(0.2, 1.0)

        @task(3)
        def customers(self):
            self.client.get("/api/v1/customers/", headers=staff, name="GET customers/")

        @task(2)
        def customers_filtered(self):
            query = random.choice(
                ["kind=consumer", "is_advocate=true", "lifecycle_stage=customer", "search=1",
                 "kind=brand_account&page_size=100"]
            )  # fmt: skip
            self.client.get(
                f"/api/v1/customers/?{query}", headers=staff, name="GET customers/?filter"
            )

        @task(2)
        def friendships(self):
            self.client.get("/api/v1/friendships/", headers=staff, name="GET friendships/")

        @task(1)
        def advocates(self):
            self.client.get("/api/v1/advocates/", headers=staff, name="GET advocates/")

        @task(2)
        def interactions(self):
            self.client.get("/api/v1/interactions/", headers=staff, name="GET interactions/")

        @task(1)
        def posts(self):
            self.client.get("/api/v1/posts/", headers=staff, name="GET posts/")

        @task(2)
        def publish(self):
            author = random.choice(world["brand_accounts"])
            created = self.client.post(
                "/api/v1/posts/",
                json={"author": author, "text": "load test post", "media": [],
                      "commercial": random.random() < 0.5},
                headers=staff,
                name="POST posts/",
            )  # fmt: skip
            if created.status_code != 201:
                return
            post = created.json()["id"]
            self.client.post(
                f"/api/v1/posts/{post}/publish-preview/",
                headers=staff,
                name="POST posts/{id}/publish-preview/",
            )
            self.client.post(
                f"/api/v1/posts/{post}/publish/", headers=staff, name="POST posts/{id}/publish/"
            )

    return [MiniProgram, Customer, Staff]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 60) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def count_log(world: dict, prefix: str) -> tuple[int, int]:
    """(events of this run in the log, scoring outbox rows of the brand)."""
    import psycopg

    url = os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as conn:
        logged = conn.execute(
            "SELECT count(*) FROM interactions_interaction WHERE brand_id = %s "
            "AND event_id LIKE %s",
            [world["brand"], prefix + "%"],
        ).fetchone()[0]
        pending = conn.execute(
            "SELECT count(*) FROM interactions_scoring_pending WHERE brand_id = %s",
            [world["brand"]],
        ).fetchone()[0]
    return logged, pending


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=300, help="seconds (default 300)")
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--spawn-rate", type=float, default=8)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--celery", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100, help="events per ingest request")
    parser.add_argument("--ingest-rate", default="100000/min")
    parser.add_argument("--setup", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.setup:
        setup(args)
        return 0

    env = server_env(args)
    started = time.perf_counter()
    made = subprocess.run(
        [PY, __file__, "--setup", "--customers", str(args.customers)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    world = json.loads(made.stdout.strip().splitlines()[-1])
    print(
        f"setup: brand {world['brand']}, {len(world['consumers'])} consumers, "
        f"{len(world['brand_accounts'])} brand accounts in {time.perf_counter() - started:.0f}s"
    )
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    servers = [
        subprocess.Popen(
            [PY, "-m", "gunicorn", "scrm.wsgi:application", "--bind", f"127.0.0.1:{port}",
             "--workers", str(args.workers), "--timeout", "60", "--log-level", "warning"],
            cwd=ROOT, env=env,
        ),
        subprocess.Popen(
            [PY, "-m", "celery", "-A", "scrm", "--quiet", "worker", "--loglevel", "WARNING",
             "-Q", "default,scoring,maintenance", "--concurrency", str(args.celery)],
            cwd=ROOT, env=env,
        ),
    ]  # fmt: skip
    try:
        wait_http(f"{base}/healthz")
        return drive(args, world, base)
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(60)


def drive(args, world: dict, base: str) -> int:
    import gevent
    from locust import events
    from locust.env import Environment

    acknowledged: Counter = Counter()
    codes: dict[str, Counter] = defaultdict(Counter)

    @events.request.add_listener
    def tally(request_type, name, response, exception, **_):
        status = getattr(response, "status_code", 0) if response is not None else 0
        codes[name][status if not exception or status else "connection error"] += 1

    users = define_users(world, args, acknowledged)
    # stop_timeout: at the end users finish the request in flight, so that every answer the
    # API gave is counted (an ingest cut off after it was stored would look like a loss)
    env = Environment(user_classes=users, host=base, events=events, stop_timeout=60)
    runner = env.create_local_runner()
    runner.start(args.users, spawn_rate=args.spawn_rate)
    gevent.spawn_later(args.duration, runner.quit)
    runner.greenlet.join()

    stats = env.stats
    print(
        f"\n{args.users} users for {args.duration:.0f}s against gunicorn ({args.workers} workers)"
        f" + Celery ({args.celery}); batch {args.batch} events\n"
    )
    print(f"{'endpoint':34} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7}  statuses")
    fivexx = 0
    for name in sorted(stats.entries, key=lambda key: key[0]):
        entry = stats.entries[name]
        seen = codes[name[0]]
        shown = dict(sorted(seen.items(), key=str))
        fivexx += sum(n for code, n in seen.items() if not isinstance(code, int) or code >= 500)
        print(
            f"{name[0]:34} {entry.num_requests:>9} {entry.total_rps:>7.1f} "
            f"{entry.get_response_time_percentile(0.5):>7.0f} "
            f"{entry.get_response_time_percentile(0.99):>7.0f}  {shown}"
        )
    total = stats.total
    print(
        f"{'all':34} {total.num_requests:>9} {total.total_rps:>7.1f} "
        f"{total.get_response_time_percentile(0.5):>7.0f} "
        f"{total.get_response_time_percentile(0.99):>7.0f}"
    )
    prefix = "load-"
    logged, pending = count_log(world, prefix)
    deadline = time.monotonic() + 120
    while pending and time.monotonic() < deadline:
        time.sleep(1)
        logged, pending = count_log(world, prefix)
    print(
        f"\nevents acknowledged as created: {acknowledged['created']}, in the log: {logged} "
        f"(lost: {acknowledged['created'] - logged}); scoring outbox after the run: {pending}"
    )
    print(f"5xx and connection errors: {fivexx}")
    ok = fivexx == 0 and logged == acknowledged["created"]
    print("checks: " + ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
