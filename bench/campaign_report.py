"""Campaign report on a large campaign, against a per-advocate ORM loop baseline.

    python -m scrm.devservers -- .venv/bin/python bench/campaign_report.py \
        [--advocates 200] [--friends 250] [--conversions 10000] [--runs 5]

Builds one campaign with ``advocates`` enrolled advocates, two posts each delivered to the
advocate's ``friends`` recipients, about one engagement per five deliveries and
``conversions`` orders; then times ``campaign_report`` (four GROUPING SETS queries) and a
baseline that computes the by-advocate numbers with a few ORM aggregates per advocate.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scrm.settings.local")
os.environ.setdefault("DEBUG", "0")


def build(args):
    from django.db import connection

    from scrm.tenancy.services import brand_create

    brand = brand_create(name=f"bench-report-{time.time_ns()}")
    b, n, f = brand.pk, args.advocates, args.friends
    with connection.cursor() as cur:
        # advocates are customers 1..n of the brand, their friends the next n*f
        cur.execute(
            """INSERT INTO customers_customer (brand_id, external_id, display_name, kind, phone,
                   tags, lifecycle_stage, source_channel, marketing_consent, friend_count,
                   created_at, updated_at)
               SELECT %s, 'c' || g, 'c' || g, 'consumer', '', '{}', 'lead', 'other', true,
                      0, now(), now()
                 FROM generate_series(1, %s) AS g""",
            [b, n * (f + 1)],
        )
        cur.execute("SELECT min(id) FROM customers_customer WHERE brand_id = %s", [b])
        (base,) = cur.fetchone()
        cur.execute(
            """INSERT INTO customers_advocate (brand_id, customer_id, status, status_reason,
                   tier, referral_code, influence_score, promoted_at, notes)
               SELECT %s, %s + g, 'active', '', 'nano', 'B' || %s || 'X' || g, 0, now(), ''
                 FROM generate_series(0, %s - 1) AS g""",
            [b, base, b, n],
        )
        cur.execute(
            """INSERT INTO campaigns_campaign (brand_id, name, goal, starts_at, ends_at, budget,
                   currency, products, brief, disclosure_label, advocate_fee, status,
                   created_at, updated_at)
               VALUES (%s, 'bench', '', now() - interval '10 days', now() + interval '20 days',
                       100000, 'CNY', '[]', '', '', 100, 'active', now(), now())
               RETURNING id""",
            [b],
        )
        (campaign_id,) = cur.fetchone()
        cur.execute(
            """INSERT INTO campaigns_enrollment (brand_id, campaign_id, advocate_id, code, fee,
                   tier, enrolled_at)
               SELECT %s, %s, a.id, 'E' || a.id || 'X' || %s,  100,
                      (ARRAY['nano', 'micro', 'macro'])[1 + a.id %% 3], now()
                 FROM customers_advocate AS a WHERE a.brand_id = %s""",
            [b, campaign_id, b, b],
        )
        cur.execute(
            """INSERT INTO campaigns_sampleshipment (brand_id, enrollment_id, product, cost,
                   created_at)
               SELECT %s, id, 'TEA', 30, now() FROM campaigns_enrollment WHERE campaign_id = %s""",
            [b, campaign_id],
        )
        cur.execute(
            """INSERT INTO campaigns_post (brand_id, author_id, text, media, commercial,
                   campaign_id, status, rejection_reasons, created_at, updated_at, published_at)
               SELECT %s, %s + g, 'post', '[]', true, %s, 'published', '[]', now(), now(), now()
                 FROM generate_series(0, %s - 1) AS g, generate_series(1, 2) AS k""",
            [b, base, campaign_id, n],
        )
        cur.execute(
            """INSERT INTO campaigns_delivery (brand_id, post_id, recipient_id, status, reason,
                   created_at)
               SELECT %s, p.id, %s + %s + (p.author_id - %s) * %s + r, 'delivered', '', now()
                 FROM campaigns_post AS p, generate_series(0, %s - 1) AS r
                WHERE p.campaign_id = %s""",
            [b, base, n, base, f, f, campaign_id],
        )
        cur.execute(
            """INSERT INTO interactions_interaction (brand_id, event_id, type, actor_id,
                   target_id, post_id, forwarded_from, chain_depth, occurred_at, received_at,
                   payload)
               SELECT d.brand_id, 'ev' || d.id,
                      (ARRAY['like', 'comment', 'forward', 'reply', 'view'])[1 + d.id %% 5],
                      d.recipient_id, p.author_id, d.post_id, '', 0, now(), now(), '{}'
                 FROM campaigns_delivery AS d JOIN campaigns_post AS p ON p.id = d.post_id
                WHERE p.campaign_id = %s AND d.id %% 5 = 0""",
            [campaign_id],
        )
        cur.execute(
            """INSERT INTO campaigns_conversion (brand_id, order_id, amount, currency, discount,
                   buyer_id, buyer_external_id, source, code, advocate_id, campaign_id,
                   enrollment_id, tie_strength_at_purchase, uncredited_reason,
                   flagged_for_review, flag_reason, interaction_event_id, occurred_at,
                   created_at)
               SELECT %s, 'o' || g, 10 + g %% 90, 'CNY', g %% 3, NULL, '', 'referral_code', '',
                      e.advocate_id, %s, e.id, (g %% 100) / 100.0, '', false, '', '',
                      now() - (g %% 9) * interval '1 day', now()
                 FROM generate_series(1, %s) AS g
                 JOIN LATERAL (SELECT id, advocate_id FROM campaigns_enrollment
                                WHERE campaign_id = %s ORDER BY id
                                OFFSET g %% %s LIMIT 1) AS e ON true""",
            [b, campaign_id, args.conversions, campaign_id, n],
        )
        cur.execute("ANALYZE")
    return campaign_id


def baseline(campaign):
    """By-advocate numbers the obvious way: ORM aggregates per enrollment."""
    from django.db.models import Count, Q, Sum

    from campaigns.models import Conversion, Delivery, Enrollment, SampleShipment
    from interactions.models import Interaction

    rows = []
    for enrollment in Enrollment.objects.filter(campaign=campaign).select_related("advocate"):
        posts = {"post__campaign": campaign, "post__author_id": enrollment.advocate.customer_id}
        reach = (
            Delivery.objects.filter(status="delivered", **posts)
            .values("recipient_id")
            .distinct()
            .count()
        )
        engaged = Interaction.objects.filter(**posts).aggregate(
            plus=Count("id", filter=Q(type__in=["like", "comment", "forward", "reply"])),
            minus=Count("id", filter=Q(type="unlike")),
        )
        money = Conversion.objects.filter(enrollment=enrollment).aggregate(
            n=Count("id"), revenue=Sum("amount"), discount=Sum("discount")
        )
        samples = SampleShipment.objects.filter(enrollment=enrollment).aggregate(c=Sum("cost"))
        rows.append((enrollment.pk, reach, engaged, money, samples))
    return rows


def timed(fn, runs):
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    times = []
    with CaptureQueriesContext(connection) as ctx:
        fn()
    queries = len(ctx.captured_queries)
    for _ in range(runs):
        reset_queries()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), queries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--advocates", type=int, default=200)
    parser.add_argument("--friends", type=int, default=250)
    parser.add_argument("--conversions", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    from campaigns.models import Campaign
    from campaigns.services.reports import campaign_report

    start = time.perf_counter()
    campaign_id = build(args)
    campaign = Campaign.objects.select_related("brand").get(pk=campaign_id)
    deliveries = 2 * args.advocates * args.friends
    print(f"built in {time.perf_counter() - start:.1f} s: {args.advocates} advocates, "
          f"{deliveries} deliveries, {args.conversions} conversions")  # fmt: skip
    report_s, report_q = timed(lambda: campaign_report(campaign=campaign), args.runs)
    base_s, base_q = timed(lambda: baseline(campaign), args.runs)
    totals = campaign_report(campaign=campaign)["totals"]
    print(f"report (GROUPING SETS):  {report_s * 1000:8.1f} ms  {report_q:5d} queries  "
          f"reach={totals['reach']} conversions={totals['conversions']}")  # fmt: skip
    print(f"baseline (ORM per adv.): {base_s * 1000:8.1f} ms  {base_q:5d} queries  "
          "(by-advocate numbers only)")  # fmt: skip
    print(f"ratio baseline/report: {base_s / report_s:.1f}x")


if __name__ == "__main__":
    main()
