"""Full tie recompute vs the bare pair GROUP BY over the same interaction log.

    .venv/bin/python bench/recompute.py --events 2000000

Generates a brand's log directly in PostgreSQL with generate_series (heavy-tailed actors,
most pairs between friends, a few hub accounts, 2% unlikes, 1% negative signals, 1% not yet
scored), then times in the same run:
  baseline: SELECT brand_id, actor_id, target_id, count(*) … GROUP BY 1, 2, 3 (fully
            aggregated server-side, same work_mem);
  recompute: interactions.recompute.ties_recompute (the brand's rows upserted in place),
  recompute all: interactions.recompute.ties_recompute_all (every brand: build a new tie
             table and swap it in — the periodic task's path);
and two parts that any recompute must do, as a floor for the goal:
  aggregate: the recompute's own pass over the log (decayed sums per directed pair and
             component, interactions.recompute.directed_pairs_sql), counted, written nowhere;
  write:     copying the recomputed tie rows into a new table like the tie table and
             building its indexes and unique constraints (rolled back).
Without DATABASE_URL/REDIS_URL it starts throwaway servers with scrm.devservers.
Goals: recompute ≤ 1.5 × baseline (issue #4); the all-brands recompute ≤ 1.8 × the floor
(aggregate + write) of the same run (issue #13).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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


def generate(events: int, customers: int, friends_per: int) -> int:
    from django.db import connection

    from scrm.tenancy.models import Brand

    brand = Brand.objects.create(name=f"Bench {time.time():.0f}", slug=f"bench-{time.time_ns()}")
    b = brand.pk
    with connection.cursor() as cur:
        t = time.perf_counter()
        cur.execute(
            """INSERT INTO customers_customer (brand_id, external_id, display_name, kind, phone,
                   tags, lifecycle_stage, source_channel, marketing_consent, friend_count,
                   created_at, updated_at)
               SELECT %s, 'bench-' || g, 'c' || g,
                      CASE WHEN g %% 20000 = 0 THEN 'brand_account' ELSE 'consumer' END,
                      '', '{}', 'lead', 'other', true, 0, now(), now()
                 FROM generate_series(1, %s) g""",
            [b, customers],
        )
        cur.execute("SELECT min(id) FROM customers_customer WHERE brand_id = %s", [b])
        base = cur.fetchone()[0]
        # Friends: near neighbours in id order with a heavy-tailed distance; hubs (every
        # 20,000th customer) befriend every 25th customer.
        cur.execute(
            """INSERT INTO customers_friendship (brand_id, customer_low_id, customer_high_id,
                   since, source, end_reason)
               SELECT DISTINCT ON (lo, hi) %(b)s, lo, hi,
                      now() - make_interval(days => (random() * 900)::int), 'import', ''
                 FROM (
                   SELECT %(base)s + g AS lo,
                          %(base)s + g + 1 + floor(power(random(), 2) * 60)::int AS hi
                     FROM generate_series(0, %(n)s - 2) g,
                          generate_series(1, %(k)s) k
                   UNION ALL
                   SELECT %(base)s + h, %(base)s + h + f
                     FROM generate_series(0, %(n)s - 1, 20000) h,
                          generate_series(25, %(n)s - 1, 25) f
                 ) x
                WHERE hi < %(base)s + %(n)s""",
            {"b": b, "base": base, "n": customers, "k": friends_per // 2},
        )
        cur.execute(
            """UPDATE customers_customer c SET friend_count = d.n FROM (
                   SELECT u, count(*) n FROM (
                       SELECT customer_low_id u FROM customers_friendship WHERE brand_id = %s
                       UNION ALL
                       SELECT customer_high_id FROM customers_friendship WHERE brand_id = %s) a
                    GROUP BY u) d
                WHERE c.id = d.u""",
            [b, b],
        )
        print(f"customers {customers:,}, friendships: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        # Interactions: actors heavy-tailed (power 3 of uniform), targets mostly a near
        # neighbour (i.e. mostly friends), types by frequency; unlikes cancel a like 0-3 days
        # earlier.
        cur.execute(
            """INSERT INTO interactions_interaction (brand_id, event_id, type, actor_id,
                   target_id, post_id, forwarded_from, chain_depth, occurred_at, received_at,
                   payload, cancels_at)
               SELECT %(b)s, 'e' || g, ty, a, t, NULL, '', 0, at, at, '{}'::jsonb,
                      CASE WHEN ty = 'unlike' THEN at - make_interval(secs => r2 * 259200)
                      END
                 FROM (
                   SELECT g, a,
                          CASE WHEN t = a THEN a + 1 ELSE t END AS t,
                          now() - make_interval(secs => r2 * 180 * 86400) AS at, r2,
                          CASE WHEN r < 0.40 THEN 'view' WHEN r < 0.55 THEN 'click'
                               WHEN r < 0.75 THEN 'like' WHEN r < 0.77 THEN 'unlike'
                               WHEN r < 0.85 THEN 'comment' WHEN r < 0.90 THEN 'forward'
                               WHEN r < 0.95 THEN 'message' WHEN r < 0.98 THEN 'reply'
                               WHEN r < 0.99 THEN 'purchase' WHEN r < 0.995 THEN 'hide_post'
                               ELSE 'mute_author' END AS ty
                     FROM (
                       SELECT g, random() AS r, random() AS r2,
                              %(base)s + floor(power(random(), 3) * (%(n)s - 1))::int AS a,
                              CASE WHEN random() < 0.03
                                   THEN %(base)s + floor(random() * (%(n)s - 1))::int
                                   ELSE NULL END AS far
                         FROM generate_series(1, %(events)s) g
                     ) s
                     CROSS JOIN LATERAL (
                       SELECT CASE WHEN far IS NULL OR random() < 0.85
                                   THEN LEAST(a + 1 + floor(power(random(), 4) * 40)::int,
                                              %(base)s + %(n)s - 1)
                                   ELSE far END AS t
                     ) tt
                 ) x""",
            {"b": b, "base": base, "n": customers, "events": events},
        )
        # 1% not yet scored: in the scoring outbox.
        cur.execute(
            """INSERT INTO interactions_scoring_pending (interaction_id, brand_id, pair_key,
                   created_at)
               SELECT id, brand_id, actor_id + target_id, now() FROM interactions_interaction
                WHERE brand_id = %s AND id %% 100 = 0""",
            [b],
        )
        print(f"interactions {events:,}: {time.perf_counter() - t:.1f} s")
        t = time.perf_counter()
        cur.execute("ANALYZE interactions_interaction")
        cur.execute("ANALYZE customers_friendship")
        print(f"analyze: {time.perf_counter() - t:.1f} s")
    return b


def bare_group_by(brand_id: int, work_mem: str) -> tuple[float, int]:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SELECT set_config('work_mem', %s, true)", [work_mem])
        t = time.perf_counter()
        cur.execute(
            """SELECT count(*) FROM (
                   SELECT brand_id, actor_id, target_id, count(*)
                     FROM interactions_interaction WHERE brand_id = %s
                    GROUP BY brand_id, actor_id, target_id) x""",
            [brand_id],
        )
        pairs = cur.fetchone()[0]
        return time.perf_counter() - t, pairs


def aggregate_floor(brand_id: int) -> float:
    """The recompute's pass over the log alone, with the recompute's transaction settings."""
    from django.db import connection, transaction
    from django.utils import timezone

    from interactions import recompute
    from interactions.scoring import TieParams

    params = TieParams.from_settings()
    now = timezone.now()
    directed, parts = recompute.directed_pairs_sql(params)
    # Every column of the pass is read: PostgreSQL drops a subquery's unreferenced outputs,
    # and a bare count(*) over it would group the pairs without computing a single sum.
    read = ", ".join(["max(d.last)", *(f"sum(d.{part})" for part in parts)])
    with transaction.atomic(), connection.cursor() as cur:
        recompute._transaction_settings(cur)
        cur.execute("SELECT set_config('enable_nestloop', 'off', true)")
        t = time.perf_counter()
        cur.execute(
            f"SELECT count(*), {read} FROM ({directed}) AS d",
            recompute._args([brand_id], now, now, params),
        )
        cur.fetchone()
        return time.perf_counter() - t


def write_floor(brand_id: int) -> tuple[float, int]:
    """Copy the brand's tie rows into a new table like the tie table (its storage
    parameters), then build its primary key, unique constraints and indexes; rolled back."""
    from django.db import connection, transaction

    from interactions import recompute
    from interactions.scoring_db import TTAB

    with transaction.atomic(), connection.cursor() as cur:
        recompute._transaction_settings(cur)
        constraints, indexes = recompute._schema_of(cur, TTAB)
        t = time.perf_counter()
        cur.execute(recompute.tie_table_like_sql(cur, "_bench_copy"))
        cur.execute(
            f"INSERT INTO _bench_copy SELECT * FROM {TTAB} WHERE brand_id = %s",
            [brand_id],
        )
        rows = cur.rowcount
        for _, sql in recompute.index_steps_sql("_bench_copy", constraints, indexes):
            cur.execute(sql)
        seconds = time.perf_counter() - t
        transaction.set_rollback(True)
    return seconds, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--customers", type=int, default=0, help="default: events / 200")
    parser.add_argument("--friends", type=int, default=20, help="mean friends per customer")
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    reexec_under_devservers()
    setup_django()
    from django.conf import settings

    from interactions.recompute import ties_recompute, ties_recompute_all

    customers = args.customers or max(1_000, args.events // 200)
    brand_id = generate(args.events, customers, args.friends)
    work_mem = settings.SCRM["RECOMPUTE_WORK_MEM"]
    bare_best, rec_best, all_best = float("inf"), float("inf"), float("inf")
    agg_best, write_best = float("inf"), float("inf")

    def progress(step: str, seconds: float, rows: int) -> None:
        print(f"    {step:<44} {seconds:8.2f} s  {rows:>12,} rows", flush=True)

    for run in range(1, args.runs + 1):
        seconds, pairs = bare_group_by(brand_id, work_mem)
        bare_best = min(bare_best, seconds)
        print(f"run {run}: baseline GROUP BY  {seconds:8.2f} s  ({pairs:,} directed pairs)")
        report = ties_recompute(brand_id=brand_id, progress=progress)
        rec_best = min(rec_best, report.seconds)
        print(
            f"run {run}: recompute (brand)  {report.seconds:8.2f} s  ({report.pairs:,} pairs "
            f"kept, {report.deleted:,} pruned, κ={report.kappa:.3f})"
        )
        (report,) = ties_recompute_all(progress=progress)
        all_best = min(all_best, report.seconds)
        print(
            f"run {run}: recompute (all, swap) {report.seconds:8.2f} s  ({report.pairs:,} "
            f"pairs kept, κ={report.kappa:.3f})"
        )
        seconds = aggregate_floor(brand_id)
        agg_best = min(agg_best, seconds)
        print(f"run {run}: floor: aggregate   {seconds:8.2f} s  (the pass over the log alone)")
        write_seconds, rows = write_floor(brand_id)
        write_best = min(write_best, write_seconds)
        print(
            f"run {run}: floor: write       {write_seconds:8.2f} s  ({rows:,} tie rows and indexes)"
        )
        floor = seconds + write_seconds
        print(
            f"run {run}: recompute (all, swap) / floor = {report.seconds:.2f} / {floor:.2f} s"
            f" = {report.seconds / floor:.2f}x (goal ≤ 1.8x)"
        )
    print(
        f"\nevents {args.events:,}  customers {customers:,}  work_mem {work_mem}\n"
        f"baseline {bare_best:.2f} s  recompute (brand) {rec_best:.2f} s  "
        f"ratio {rec_best / bare_best:.2f}x; recompute (all, swap) {all_best:.2f} s  "
        f"ratio {all_best / bare_best:.2f}x (goal ≤ 1.5x)\n"
        f"floor: aggregate {agg_best:.2f} s + write {write_best:.2f} s = "
        f"{agg_best + write_best:.2f} s, ratio {(agg_best + write_best) / bare_best:.2f}x\n"
        f"best recompute (all, swap) / best floor: {all_best / (agg_best + write_best):.2f}x "
        "(goal ≤ 1.8x)"
    )


if __name__ == "__main__":
    main()
