"""WeCom callbacks through the endpoint with a real worker applying them, next to the same
events through ``interactions/batch/`` in the same run.

    python -m scrm.devservers -- .venv/bin/python bench/wecom_callbacks.py [--events 2000]
        [--threads 4] [--workers 2] [--concurrency 2] [--churn 0.2] [--batch 500]

Starts gunicorn (``--workers`` processes) and a Celery worker (``-c --concurrency``, idle
until told to consume ``default`` and ``scoring``) on a throwaway database, configures WeCom
for a brand with 5 staff accounts, then:

1. sends ``--events`` encrypted, signed callbacks from ``--threads`` keep-alive connections —
   adds of new customers, then for a ``--churn`` share of them a ``del_follow_user`` —
   timing each acknowledgement (p50/p99) with the worker idle (the endpoint alone on the
   CPUs, as web and worker run on their own machines in production), then lets the worker
   consume and times it applying the queue;
2. sends the same events as interactions (an add as a ``message`` from the new customer to
   the staff account, a churn as an ``unfriend``) in ``interactions/batch/`` requests of
   ``--batch`` events the same way, then lets the worker score them (a scoring task takes
   every pending event of the brand, so this is timed end to end: from the first batch sent
   until nothing is pending).

Prints callbacks/s acknowledged (with p50/p99 latency) and applied, and events/s
acknowledged and scored.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import threading
import time
from datetime import UTC, datetime

from _setup import ROOT, django_ready
from ingest import free_port, start_server


def start_celery(concurrency: int) -> subprocess.Popen:
    """A worker consuming nothing yet (an idle queue): ``consume`` switches it on."""
    return subprocess.Popen(
        [str(ROOT / ".venv/bin/celery"), "-A", "scrm", "worker", "-Q", "bench_idle"]
        + ["-c", str(concurrency), "--loglevel", "WARNING"],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        start_new_session=True,
    )


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def consume(app, on: bool) -> None:
    for queue in ("default", "scoring"):
        if on:
            app.control.add_consumer(queue, reply=True)
        else:
            app.control.cancel_consumer(queue, reply=True)


def post_all(port: int, requests: list[tuple[str, bytes, dict]], threads: int):
    """POST every (path, body, headers) from ``threads`` keep-alive connections; answers the
    wall time, each request's latency and the non-200 answers."""
    work = iter(requests)
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine = []
        while True:
            with lock:
                item = next(work, None)
            if item is None:
                break
            path, body, headers = item
            started = time.perf_counter()
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            mine.append(time.perf_counter() - started)
            if response.status != 200:
                failures.append(f"{response.status} {data[:200]!r}")
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=client) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, latencies, failures


def wait_for(predicate, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if predicate():
            return time.perf_counter() - started
        time.sleep(0.05)
    raise RuntimeError("timed out")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn processes")
    parser.add_argument("--server-threads", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--churn", type=float, default=0.2, help="share of churn events")
    parser.add_argument("--batch", type=int, default=500, help="events per batch request")
    args = parser.parse_args()

    django_ready()
    from django.db.models import Count

    from customers.models import Customer, CustomerKind
    from interactions.models import ScoringPending
    from scrm.celery import app
    from scrm.tenancy.services import app_key_create, brand_create
    from wecom.crypto import encoding_aes_key_generate
    from wecom.models import CallbackEvent
    from wecom.services.config import wecom_config_update
    from wecom.simulator import Simulator

    brand = brand_create(name="WeCom bench")
    accounts = [
        Customer.objects.create(
            brand=brand, external_id=f"wecom-staff:s{n}", kind=CustomerKind.BRAND_ACCOUNT
        )
        for n in range(5)
    ]
    key, token, corp = encoding_aes_key_generate(), "BenchToken", "wwbench0001"
    wecom_config_update(
        brand_id=brand.pk,
        corp_id=corp,
        token=token,
        encoding_aes_key=key,
        staff=[{"user_id": f"s{n}", "brand_account": a.pk} for n, a in enumerate(accounts)],
    )
    app_key = app_key_create(brand=brand, name="bench").raw_key

    # The same events both ways: an add per new customer, a churn for a share of them.
    n_churn = int(args.events * args.churn)
    n_add = args.events - n_churn
    port = free_port()
    sim = Simulator(
        base_url=f"http://127.0.0.1:{port}",
        brand_slug=brand.slug,
        corp_id=corp,
        token=token,
        encoding_aes_key=key,
    )
    now = int(time.time())
    adds = [(f"s{i % 5}", f"wmBENCH{i:08d}") for i in range(n_add)]
    callbacks = [
        sim.event("add_external_contact", user_id=u, external=e, create_time=now - 600 + i % 300)
        for i, (u, e) in enumerate(adds)
    ]
    churns = [
        sim.event("del_follow_user", user_id=u, external=e, create_time=now - 200 + i % 100)
        for i, (u, e) in enumerate(adds[:n_churn])
    ]

    server = start_server(argparse.Namespace(workers=args.workers,
                                             server_threads=args.server_threads), port)  # fmt: skip
    worker = start_celery(args.concurrency)
    try:
        wait_for(lambda: bool(app.control.ping(timeout=0.2)), 120)  # started up, idle
        # 1. WeCom callbacks: acknowledged with the worker stopped (the queue fills), then
        # applied by the worker alone; the adds first, then the churn of some of them.
        path = f"/api/v1/wecom/callback/{brand.slug}/"
        results = {}
        for phase, events in (("adds", callbacks), ("churn", churns)):
            requests = []
            for fields in events:
                query, body = sim.signed(fields)
                requests.append((f"{path}?{query}", body, {"Content-Type": "text/xml"}))
            wall, latencies, failures = post_all(port, requests, args.threads)
            if failures:
                raise SystemExit(f"{len(failures)} refused, first: {failures[0]}")
            consume(app, True)
            applied = wait_for(
                lambda: (
                    not CallbackEvent.objects.filter(brand_id=brand.pk, status="pending").exists()
                ),
                600,
            )
            consume(app, False)
            results[phase] = (len(events), wall, applied, latencies)
        statuses = dict(
            CallbackEvent.objects.filter(brand_id=brand.pk)
            .values_list("status")
            .annotate(n=Count("id"))
        )

        # 2. The same events through interactions/batch/: acknowledged with the worker
        # stopped, then scored by the worker alone.
        ids = dict(Customer.objects.filter(brand_id=brand.pk).values_list("external_id", "pk"))
        staff_ids = {f"s{n}": a.pk for n, a in enumerate(accounts)}
        stamp = datetime.fromtimestamp(now - 60, tz=UTC).isoformat()
        events = [
            {"event_id": f"b-add-{e}", "type": "message", "actor": ids[e],
             "target": staff_ids[u], "occurred_at": stamp}
            for u, e in adds
        ] + [
            {"event_id": f"b-churn-{e}", "type": "unfriend", "actor": ids[e],
             "target": staff_ids[u], "occurred_at": stamp}
            for u, e in adds[:n_churn]
        ]  # fmt: skip
        headers = {"Authorization": f"Api-Key {app_key}", "Content-Type": "application/json"}
        batches = [
            ("/api/v1/interactions/batch/",
             json.dumps({"events": events[i : i + args.batch]}).encode(), headers)
            for i in range(0, len(events), args.batch)
        ]  # fmt: skip
        started = time.perf_counter()
        batch_wall, _, failures = post_all(port, batches, args.threads)
        if failures:
            raise SystemExit(f"{len(failures)} batches refused, first: {failures[0]}")
        consume(app, True)
        wait_for(lambda: not ScoringPending.objects.filter(brand_id=brand.pk).exists(), 600)
        batch_scored = time.perf_counter() - started
    finally:
        stop(worker)
        server.terminate()
        server.wait()

    all_latencies = sorted(results["adds"][3] + results["churn"][3])
    p50 = statistics.median(all_latencies) * 1000
    p99 = all_latencies[min(len(all_latencies) - 1, int(len(all_latencies) * 0.99))] * 1000
    total = sum(r[0] for r in results.values())
    ack_wall = sum(r[1] for r in results.values())
    applied_wall = sum(r[2] for r in results.values())
    print(f"WeCom callbacks: {total} events ({n_add} adds, {n_churn} churns), "
          f"{args.threads} client threads, gunicorn workers={args.workers}, "
          f"Celery -c {args.concurrency}; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    for phase, (n, wall, applied, _) in results.items():
        print(f"  {phase:6s}: acknowledged {n / wall:,.0f}/s, applied {n / applied:,.0f}/s")
    print(f"  all   : acknowledged {total / ack_wall:,.0f} callbacks/s (p50 {p50:.1f} ms, "
          f"p99 {p99:.1f} ms), applied by the worker {total / applied_wall:,.0f} callbacks/s; "
          f"outcomes {statuses}")  # fmt: skip
    print(f"interactions/batch/ ({args.batch} per request): acknowledged "
          f"{len(events) / batch_wall:,.0f} events/s; acknowledged and scored end to end "
          f"{len(events) / batch_scored:,.0f} events/s")  # fmt: skip


if __name__ == "__main__":
    main()
