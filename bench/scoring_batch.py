"""Where one scoring batch spends its time: the batch statement and the commit, on one state.

    python -m scrm.devservers -- .venv/bin/python bench/scoring_batch.py
        [--customers 5000] [--warm 100000] [--batch 19000] [--repeat 3] [--explain]
        [--compare PATH ...]

Builds two brands of ``--customers`` customers (no friendships), the events of
bench/scoring.py (heavy-tailed actors, uniform targets) ingested with the real service:
  warm  — ``--warm`` events already scored (a tie table holding their pairs), then ``--batch``
          new events pending;
  fresh — ``--batch`` events pending, no tie row yet;
both with ``--backlog`` more events pending behind the batch. A run is one task: its own
1,000 ids filled up to ``--batch`` with the brand's oldest pending events.
Each variant of the worker's service (this tree's ``interactions.scoring_db``, and every
``--compare`` file: another version of that module, e.g. ``git show main:…``) then scores
each brand's pending batch ``--repeat`` times, each time inside a transaction that is rolled
back (the same state for every run): the time of ``ties_score_batch`` (its three round
trips) and of ``SET CONSTRAINTS ALL IMMEDIATE`` (the deferred foreign-key checks its commit
would run). Variants alternate run by run, so load changes hit them alike. ``--explain``
prints the plan of one more run per brand and variant (``EXPLAIN (ANALYZE, BUFFERS)`` via
auto_explain: timing per node adds overhead, compare the plain runs).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import statistics
import sys
import time
from pathlib import Path

from _setup import django_ready
from scoring import make_events  # the event mix of bench/scoring.py


def load_variant(path: str):
    name = "interactions._bench_" + Path(path).stem.replace("-", "_").replace(".", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def make_brand(name: str, customers: int):
    from customers.models import Customer
    from scrm.tenancy.services import Caller, CallerKind, brand_create

    brand = brand_create(name=name)
    people = Customer.objects.bulk_create(
        Customer(brand=brand, external_id=f"{brand.slug}-{i}", display_name=f"c{i}")
        for i in range(customers)
    )
    caller = Caller(kind=CallerKind.STAFF, brand_id=brand.pk, user_id=None, role="manager")
    return brand, [c.pk for c in people], caller


def ingest(rng, caller, people, n: int, prefix: str) -> None:
    from django.utils import timezone

    from interactions.services import interactions_ingest

    for start in range(0, n, 1000):
        size = min(1000, n - start)
        events = make_events(rng, people, size, f"{prefix}{start}-", timezone.now())
        interactions_ingest(caller=caller, events=events)


def pending_ids(brand_id: int) -> list[int]:
    from interactions.models import ScoringPending

    return list(
        ScoringPending.objects.filter(brand_id=brand_id)
        .order_by("interaction_id")
        .values_list("interaction_id", flat=True)
    )


def backend_cpu(pid: int) -> float:
    """CPU seconds (user + system) used so far by the PostgreSQL backend ``pid`` (Linux)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_run(module, ids: list[int], fill: int, explain: bool) -> tuple:
    """Score ``ids`` with ``module`` in a transaction that is rolled back; answers the
    seconds of the service call (wall, backend CPU) and of the deferred constraint checks
    (wall), (pairs, tie row versions written), plan lines."""
    from django.db import connection, transaction
    from django.utils import timezone

    plans: list[str] = []
    with transaction.atomic():
        connection.ensure_connection()
        raw = connection.connection

        def on_notice(diag) -> None:
            plans.append(diag.message_primary or "")

        if explain:
            raw.add_notice_handler(on_notice)
            with connection.cursor() as cur:
                cur.execute("LOAD 'auto_explain'")
                cur.execute(
                    "SELECT set_config('auto_explain.log_min_duration', '0', true), "
                    "set_config('auto_explain.log_analyze', 'on', true), "
                    "set_config('auto_explain.log_buffers', 'on', true), "
                    "set_config('auto_explain.log_level', 'notice', true), "
                    "set_config('auto_explain.log_parameter_max_length', '0', true)"
                )
        began = timezone.now()
        pid = raw.info.backend_pid
        cpu = backend_cpu(pid)
        t = time.perf_counter()
        result = module.ties_score_batch(interaction_ids=ids, fill_to=fill)
        batch = time.perf_counter() - t
        cpu = backend_cpu(pid) - cpu
        t = time.perf_counter()
        with connection.cursor() as cur:
            cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
            checks = time.perf_counter() - t
            cur.execute("SELECT count(*) FROM interactions_tie WHERE updated_at >= %s", [began])
            written = cur.fetchone()[0]
        if explain:
            raw.remove_notice_handler(on_notice)
        transaction.set_rollback(True)
    return batch, cpu, checks, (result.pairs, written), plans


SINGLE_COLUMN_KEYS = """
    DO $$ DECLARE c record; BEGIN
      FOR c IN SELECT conname FROM pg_constraint
                WHERE conrelid = 'interactions_tie'::regclass AND contype = 'f' LOOP
        EXECUTE format('ALTER TABLE interactions_tie DROP CONSTRAINT %I', c.conname);
      END LOOP;
    END $$;
    ALTER TABLE interactions_tie
      ADD CONSTRAINT bench_brand FOREIGN KEY (brand_id) REFERENCES tenancy_brand (id)
          DEFERRABLE INITIALLY DEFERRED NOT VALID,
      ADD CONSTRAINT bench_source FOREIGN KEY (source_id) REFERENCES customers_customer (id)
          DEFERRABLE INITIALLY DEFERRED NOT VALID,
      ADD CONSTRAINT bench_target FOREIGN KEY (target_id) REFERENCES customers_customer (id)
          DEFERRABLE INITIALLY DEFERRED NOT VALID;
"""


def fk_detail(module, ids: list[int], fill: int, single: bool = False) -> str:
    """One more rolled-back run: each deferred foreign key of the tie table checked on its
    own, against locking the customers of the inserted rows set-based (``FOR KEY SHARE``,
    one statement: what a worker would do instead of the per-row checks). With ``single``
    the tie table's foreign keys are first replaced (in the same rolled-back transaction) by
    the three single-column ones it had before migration 0009."""
    from django.db import connection, transaction
    from django.utils import timezone

    parts = []
    with transaction.atomic():
        if single:
            with connection.cursor() as cur:
                cur.execute(SINGLE_COLUMN_KEYS)
        began = timezone.now()
        module.ties_score_batch(interaction_ids=ids, fill_to=fill)
        with connection.cursor() as cur:
            cur.execute(
                """SELECT count(*), count(DISTINCT source_id) FROM interactions_tie
                    WHERE created_at >= %s""",
                [began],
            )
            inserted, sources = cur.fetchone()
            t = time.perf_counter()
            cur.execute(
                """SELECT count(*) FROM (
                       SELECT 1 FROM customers_customer WHERE id IN (
                           SELECT source_id FROM interactions_tie WHERE created_at >= %s
                           UNION SELECT target_id FROM interactions_tie WHERE created_at >= %s)
                       FOR KEY SHARE) AS locked""",
                [began, began],
            )
            locked = cur.fetchone()[0]
            lock_ms = (time.perf_counter() - t) * 1000
            cur.execute(
                """SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                    WHERE conrelid = 'interactions_tie'::regclass AND contype = 'f'
                    ORDER BY conname"""
            )
            for name, definition in cur.fetchall():
                t = time.perf_counter()
                cur.execute(f'SET CONSTRAINTS "{name}" IMMEDIATE')
                column = definition.split("(")[1].split(")")[0]
                parts.append(f"{column} {(time.perf_counter() - t) * 1000:.0f} ms")
        transaction.set_rollback(True)
    return (
        f"{inserted:,} tie rows inserted; deferred FK checks one by one: {', '.join(parts)}; "
        f"set-based FOR KEY SHARE of their {locked:,} customers (after the checks): "
        f"{lock_ms:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--warm", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=19_000)
    parser.add_argument(
        "--backlog", type=int, default=0, help="more events pending behind each brand's batch"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--fk-detail", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print every run's time")
    parser.add_argument("--compare", nargs="*", default=[])
    args = parser.parse_args()
    django_ready()
    from django.db import connection

    from interactions import scoring_db

    variants = {"this tree": scoring_db}
    for path in args.compare:
        variants[path] = load_variant(path)

    rng = random.Random(7)
    stamp = time.time_ns()
    warm, warm_people, warm_caller = make_brand(f"batch warm {stamp}", args.customers)
    ingest(rng, warm_caller, warm_people, args.warm, "w-")
    ids = pending_ids(warm.pk)
    for start in range(0, len(ids), 20_000):
        scoring_db.ties_score_batch(interaction_ids=ids[start : start + 20_000])
    ingest(rng, warm_caller, warm_people, args.batch + args.backlog, "b-")
    fresh, fresh_people, fresh_caller = make_brand(f"batch fresh {stamp}", args.customers)
    ingest(rng, fresh_caller, fresh_people, args.batch + args.backlog, "f-")
    with connection.cursor() as cur:
        cur.execute("VACUUM ANALYZE interactions_tie")
        cur.execute("SELECT count(*) FROM interactions_tie WHERE brand_id = %s", [warm.pk])
        warm_ties = cur.fetchone()[0]
    print(f"warm brand: {args.warm:,} events scored → {warm_ties:,} tie rows; batch {args.batch:,}")

    for label, brand in (("warm", warm), ("fresh", fresh)):
        ids = pending_ids(brand.pk)[:1000]  # a task's own ids, filled up to --batch
        times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
        pairs = {}
        for run in range(args.repeat + 1):  # the first run of each variant prepares: dropped
            for name, module in variants.items():
                batch, cpu, checks, pairs[name], _ = one_run(module, ids, args.batch, explain=False)
                if run:
                    times[name].append((batch, checks, cpu))
        with open("/proc/loadavg") as handle:
            load = handle.read().split()[0]
        for name, runs in times.items():
            b = statistics.median(r[0] for r in runs)
            c = statistics.median(r[1] for r in runs)
            cpu = statistics.median(r[2] for r in runs)
            print(
                f"{label:5} {name:32} {args.batch:,} events, {pairs[name][0]:,} pairs, "
                f"{pairs[name][1]:,} tie rows written: batch "
                f"{b * 1000:.0f} ms (min {min(r[0] for r in runs) * 1000:.0f}, backend CPU "
                f"{cpu * 1000:.0f}, min {min(r[2] for r in runs) * 1000:.0f}), FK checks "
                f"{c * 1000:.0f} ms → {args.batch / (b + c):,.0f} events/s  [load {load}]"
            )
            if args.verbose:
                print("      wall ms:", " ".join(f"{r[0] * 1000:.0f}" for r in runs))
        if args.fk_detail:
            for _ in range(2):
                print(f"{label:5} 0009 keys:   {fk_detail(scoring_db, ids, args.batch)}")
                print(f"{label:5} single keys: {fk_detail(scoring_db, ids, args.batch, True)}")
        if args.explain:
            for name, module in variants.items():
                *_, plan = one_run(module, ids, args.batch, explain=True)
                print(f"\n--- {label} / {name}: plan of the batch statement")
                batch_plans = [p for p in plan if "CTE claim" in p]
                print(batch_plans[-1] if batch_plans else f"(no plan; {len(plan)} logged)")


if __name__ == "__main__":
    main()
