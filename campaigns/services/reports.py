"""The campaign report: what worked, in total, by advocate, by tier and by tie band.

Definitions (all over the campaign's posts, i.e. posts linked to the campaign):
- **reach**: distinct recipients a campaign post was delivered to (delivered deliveries);
- **impressions**: delivered deliveries (one per feed a post reached) plus views by people
  reached through a forward (``chain_depth`` ≥ 1, who had no delivery);
- **engagements**: likes − unlikes + comments + forwards + replies on campaign posts;
- **engagement rate**: engagements / impressions;
- **conversions**: credited conversions attributed to the campaign, in any currency
  (refused self-referrals carry no campaign); **conversion rate**: conversions / reach;
- **revenue**: sum of those conversions' amounts in the campaign currency (other currencies
  are listed in ``revenue_by_currency`` and left out of ROI; there is no FX here);
- **cost**: enrollment fees + free-sample costs + coupon discounts granted on the
  conversions in the campaign currency; **ROI**: (revenue − cost) / cost, ``null`` when cost is 0.
Breakdowns: by advocate (enrollment), by tier (the advocate's tier **at enrollment**; posts
and conversions of people not enrolled, e.g. brand accounts, fall in ``unenrolled``) and by
the tie strength between buyer and credited person at purchase time
(``REPORT_TIE_BAND_EDGES``; ``unknown`` when the buyer is not a known customer).

Every aggregate is computed in PostgreSQL with ``GROUPING SETS`` and ``FILTER``: four
queries whatever the size of the campaign.
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from customers.models import Advocate, Customer, Tier
from interactions.models import Interaction

from ..models import Campaign, Conversion, Delivery, Enrollment, Post, SampleShipment

UNENROLLED = "unenrolled"
UNKNOWN_BAND = "unknown"
TIERS = [*Tier.values, UNENROLLED]
CENT = Decimal("0.01")

_T = {
    "post": Post._meta.db_table,
    "delivery": Delivery._meta.db_table,
    "interaction": Interaction._meta.db_table,
    "conversion": Conversion._meta.db_table,
    "enrollment": Enrollment._meta.db_table,
    "sample": SampleShipment._meta.db_table,
    "advocate": Advocate._meta.db_table,
    "customer": Customer._meta.db_table,
}

# Campaign posts with the enrollment (and tier at enrollment) of their author.
_POSTS_CTE = """
    campaign_posts AS (
        SELECT p.id, e.id AS enrollment_id, COALESCE(e.tier, '{unenrolled}') AS tier
          FROM {post} AS p
          LEFT JOIN {advocate} AS a ON a.customer_id = p.author_id
          LEFT JOIN {enrollment} AS e ON e.advocate_id = a.id AND e.campaign_id = p.campaign_id
         WHERE p.campaign_id = %(campaign)s
    )
""".format(unenrolled=UNENROLLED, **_T)  # noqa: S608

_DELIVERY_SQL = f"""
    WITH {_POSTS_CTE}
    SELECT GROUPING(cp.enrollment_id, cp.tier), cp.enrollment_id, cp.tier,
           count(DISTINCT d.recipient_id), count(d.id)
      FROM campaign_posts AS cp
      JOIN {_T["delivery"]} AS d ON d.post_id = cp.id AND d.status = 'delivered'
     GROUP BY GROUPING SETS ((cp.enrollment_id, cp.tier), (cp.tier), ())
"""  # noqa: S608

_INTERACTION_SQL = f"""
    WITH {_POSTS_CTE}
    SELECT GROUPING(cp.enrollment_id, cp.tier), cp.enrollment_id, cp.tier,
           count(*) FILTER (WHERE i.type IN ('like', 'comment', 'forward', 'reply'))
             - count(*) FILTER (WHERE i.type = 'unlike'),
           count(*) FILTER (WHERE i.type = 'view' AND i.chain_depth > 0)
      FROM campaign_posts AS cp
      JOIN {_T["interaction"]} AS i ON i.post_id = cp.id
     WHERE i.type IN ('like', 'unlike', 'comment', 'forward', 'reply', 'view')
     GROUP BY GROUPING SETS ((cp.enrollment_id, cp.tier), (cp.tier), ())
"""  # noqa: S608

# Bit order of GROUPING(enrollment, tier, band, currency, day): 1 = column not grouped.
_CONVERSION_SQL = f"""
    WITH c AS (
        SELECT cv.enrollment_id, COALESCE(e.tier, '{UNENROLLED}') AS tier,
               CASE WHEN cv.tie_strength_at_purchase IS NULL THEN -1
                    ELSE width_bucket(cv.tie_strength_at_purchase, %(edges)s::float8[]) END
                 AS band,
               cv.currency, (cv.occurred_at AT TIME ZONE %(tz)s)::date AS day,
               cv.amount, cv.discount, cv.currency = %(currency)s AS home
          FROM {_T["conversion"]} AS cv
          LEFT JOIN {_T["enrollment"]} AS e ON e.id = cv.enrollment_id
         WHERE cv.campaign_id = %(campaign)s
    )
    SELECT GROUPING(enrollment_id, tier, band, currency, day),
           enrollment_id, tier, band, currency, day,
           COALESCE(sum(amount) FILTER (WHERE home), 0),
           COALESCE(sum(discount) FILTER (WHERE home), 0),
           count(*), COALESCE(sum(amount), 0)
      FROM c
     GROUP BY GROUPING SETS ((enrollment_id, tier), (tier), (band), (currency), (day), ())
"""  # noqa: S608

_COST_SQL = f"""
    WITH samples AS (
        SELECT enrollment_id, sum(cost) AS cost, count(*) AS n,
               count(received_at) AS received, count(reviewed_at) AS reviewed
          FROM {_T["sample"]}
         WHERE enrollment_id IN (
               SELECT id FROM {_T["enrollment"]} WHERE campaign_id = %(campaign)s)
         GROUP BY enrollment_id
    )
    SELECT GROUPING(e.id, e.tier), e.id, e.tier, min(a.id), min(cu.display_name), min(e.code),
           COALESCE(sum(e.fee), 0), COALESCE(sum(s.cost), 0), COALESCE(sum(s.n), 0),
           COALESCE(sum(s.received), 0), COALESCE(sum(s.reviewed), 0)
      FROM {_T["enrollment"]} AS e
      JOIN {_T["advocate"]} AS a ON a.id = e.advocate_id
      JOIN {_T["customer"]} AS cu ON cu.id = a.customer_id
      LEFT JOIN samples AS s ON s.enrollment_id = e.id
     WHERE e.campaign_id = %(campaign)s
     GROUP BY GROUPING SETS ((e.id, e.tier), (e.tier), ())
"""  # noqa: S608


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _key(grouping: int, enrollment_id: int | None, tier: str | None, bits: int) -> tuple:
    """('advocate', id) | ('tier', name) | ('total',) for a GROUPING bitmask of 2 columns
    (``bits`` = how many columns follow them in the mask)."""
    mask = grouping >> bits
    if mask == 0:
        return ("advocate", enrollment_id)
    if mask == 0b10:
        return ("tier", tier)
    return ("total",)


def _ratio(numerator: float, denominator: float) -> float:
    return round(numerator / denominator, 4) if denominator else 0.0


def band_labels(edges: list[float]) -> list[str]:
    bounds = [0.0, *edges, 1.0]
    return [f"{bounds[i]:.1f}–{bounds[i + 1]:.1f}" for i in range(len(bounds) - 1)]


def _metrics(raw: dict) -> dict[str, Any]:
    impressions = raw["delivered"] + raw["forwarded_views"]
    revenue = Decimal(raw["revenue"]).quantize(CENT)
    cost = (Decimal(raw["fees"]) + Decimal(raw["samples"]) + Decimal(raw["discounts"])).quantize(
        CENT
    )
    return {
        "reach": raw["reach"],
        "impressions": impressions,
        "engagements": raw["engagements"],
        "engagement_rate": _ratio(raw["engagements"], impressions),
        "conversions": raw["conversions"],
        "conversion_rate": _ratio(raw["conversions"], raw["reach"]),
        "revenue": revenue,
        "cost": cost,
        "roi": round(float((revenue - cost) / cost), 4) if cost else None,
    }


def _blank() -> dict[str, Any]:
    return {
        "reach": 0,
        "delivered": 0,
        "forwarded_views": 0,
        "engagements": 0,
        "conversions": 0,
        "revenue": Decimal(0),
        "discounts": Decimal(0),
        "fees": Decimal(0),
        "samples": Decimal(0),
    }


def campaign_report(*, campaign: Campaign) -> dict[str, Any]:
    """The report of one campaign (see the module docstring for every definition)."""
    edges = [float(edge) for edge in settings.SCRM["REPORT_TIE_BAND_EDGES"]]
    params = {
        "campaign": campaign.pk,
        "currency": campaign.currency,
        "edges": edges,
        "tz": campaign.brand.time_zone,
    }
    raw: dict[tuple, dict] = {("total",): _blank(), **{("tier", t): _blank() for t in TIERS}}
    advocates: dict[int, dict] = {}

    for row in _rows(_COST_SQL, params):
        grouping, enrollment_id, tier, advocate_id, display_name, code = row[:6]
        fees, samples, shipped, received, reviewed = row[6:11]
        key = _key(grouping, enrollment_id, tier, 0)
        bucket = raw.setdefault(key, _blank())
        bucket["fees"], bucket["samples"] = fees, samples
        if key[0] == "advocate":
            advocates[enrollment_id] = {
                "enrollment": enrollment_id,
                "advocate": advocate_id,
                "name": display_name,
                "code": code,
                "tier": tier,
                "fee": Decimal(fees).quantize(CENT),
                "samples": {"shipped": shipped, "received": received, "reviewed": reviewed},
            }
    for grouping, enrollment_id, tier, reach, delivered in _rows(_DELIVERY_SQL, params):
        bucket = raw.setdefault(_key(grouping, enrollment_id, tier, 0), _blank())
        bucket["reach"], bucket["delivered"] = reach, delivered
    for grouping, enrollment_id, tier, engagements, views in _rows(_INTERACTION_SQL, params):
        bucket = raw.setdefault(_key(grouping, enrollment_id, tier, 0), _blank())
        bucket["engagements"], bucket["forwarded_views"] = engagements, views

    labels = band_labels(edges)
    bands = {label: {"conversions": 0, "revenue": Decimal(0)} for label in labels}
    bands[UNKNOWN_BAND] = {"conversions": 0, "revenue": Decimal(0)}
    by_currency: dict[str, Decimal] = {}
    over_time: list[dict] = []
    for row in _rows(_CONVERSION_SQL, params):
        grouping, enrollment_id, tier, band, currency, day = row[:6]
        home_revenue, home_discount, count, revenue = row[6:]
        if grouping == 0b00111 or grouping == 0b10111 or grouping == 0b11111:
            key = _key(grouping, enrollment_id, tier, 3)
            bucket = raw.setdefault(key, _blank())
            bucket["conversions"] = count
            bucket["revenue"], bucket["discounts"] = home_revenue, home_discount
        elif grouping == 0b11011:
            label = UNKNOWN_BAND if band < 0 else labels[band]
            bands[label] = {"conversions": count, "revenue": Decimal(home_revenue)}
        elif grouping == 0b11101:
            by_currency[currency] = Decimal(revenue).quantize(CENT)
        elif grouping == 0b11110:
            over_time.append({"day": day, "conversions": count, "revenue": Decimal(home_revenue)})

    totals = _metrics(raw[("total",)])
    by_advocate = []
    for enrollment_id, info in advocates.items():
        by_advocate.append({**info, **_metrics(raw.get(("advocate", enrollment_id), _blank()))})
    by_advocate.sort(key=lambda row: (-row["revenue"], -row["conversions"], row["enrollment"]))
    by_tier = [
        {
            "tier": tier,
            "advocates": sum(1 for a in advocates.values() if a["tier"] == tier),
            **_metrics(raw[("tier", tier)]),
        }  # fmt: skip
        for tier in TIERS
        if tier != UNENROLLED or any(raw[("tier", UNENROLLED)].values())
    ]
    all_conversions = totals["conversions"]
    by_band = [
        {
            "band": label,
            "conversions": values["conversions"],
            "share": _ratio(values["conversions"], all_conversions),
            "revenue": Decimal(values["revenue"]).quantize(CENT),
        }
        for label, values in bands.items()
    ]
    over_time.sort(key=lambda row: row["day"])
    for row in over_time:
        row["revenue"] = row["revenue"].quantize(CENT)
    return {
        "campaign": campaign.pk,
        "name": campaign.name,
        "status": campaign.status,
        "currency": campaign.currency,
        "generated_at": timezone.now(),
        "totals": totals,
        "by_advocate": by_advocate,
        "by_tier": by_tier,
        "by_tie_band": by_band,
        "conversions_over_time": over_time,
        "revenue_by_currency": dict(sorted(by_currency.items())),
    }


CSV_COLUMNS = [
    "section",
    "key",
    "label",
    "tier",
    "reach",
    "impressions",
    "engagements",
    "engagement_rate",
    "conversions",
    "conversion_rate",
    "revenue",
    "cost",
    "roi",
]


def report_csv(report: dict) -> str:
    """One table: a ``total`` row, then ``advocate``, ``tier`` and ``tie_band`` rows."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()

    def row(section: str, key: Any, label: str, values: dict, tier: str = "") -> None:
        roi = values.get("roi")
        writer.writerow(
            {
                **values,
                "section": section,
                "key": key,
                "label": label,
                "tier": tier,
                "roi": "" if roi is None else roi,
            }
        )

    row("total", report["campaign"], report["name"], report["totals"])
    for item in report["by_advocate"]:
        row("advocate", item["advocate"], item["name"], item, tier=item["tier"])
    for item in report["by_tier"]:
        row("tier", item["tier"], item["tier"], item, tier=item["tier"])
    for item in report["by_tie_band"]:
        row("tie_band", item["band"], item["band"], {**item, "roi": None})
    return out.getvalue()
