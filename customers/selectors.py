"""Brand-scoped reads of customers, friendships and advocates."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone

from campaigns.models import Delivery, Post
from interactions import selectors as interaction_selectors
from interactions.models import Interaction, Tie
from scrm.api.pagination import Keyset
from scrm.tenancy.services import Caller

from .models import Advocate, AdvocateStatus, Customer, CustomerKind, Friendship


def customer_list(*, caller: Caller) -> QuerySet[Customer]:
    queryset = Customer.objects.filter(brand_id=caller.brand_id)
    if caller.is_customer:
        queryset = queryset.filter(pk=caller.customer_id)
    return queryset.annotate(
        is_advocate=Exists(Advocate.objects.filter(customer_id=OuterRef("pk")))
    )


def customer_get_in_brand(*, brand_id: int, customer_id: int) -> Customer | None:
    return Customer.objects.filter(brand_id=brand_id, pk=customer_id).first()


def friendship_list(*, caller: Caller) -> QuerySet[Friendship]:
    queryset = Friendship.objects.filter(brand_id=caller.brand_id)
    if caller.is_customer:
        queryset = queryset.filter(
            Q(customer_low_id=caller.customer_id) | Q(customer_high_id=caller.customer_id)
        )
    return queryset  # rendered by ids only: no join of the two customers


def friendship_current(*, brand_id: int, a: int, b: int) -> Friendship | None:
    low, high = (a, b) if a < b else (b, a)
    return Friendship.objects.filter(
        brand_id=brand_id, customer_low_id=low, customer_high_id=high, ended_at__isnull=True
    ).first()


def friends_of(*, customer: Customer) -> QuerySet[Customer]:
    """The customer's current friends, annotated with ``friends_since`` and the tie
    ``strength`` (0 before any signal), in one query."""
    low_side = Friendship.objects.filter(
        customer_low_id=customer.pk, customer_high_id=OuterRef("pk"), ended_at__isnull=True
    )
    high_side = Friendship.objects.filter(
        customer_high_id=customer.pk, customer_low_id=OuterRef("pk"), ended_at__isnull=True
    )
    current = Friendship.objects.filter(ended_at__isnull=True)
    return (
        Customer.objects.filter(brand_id=customer.brand_id)
        .filter(
            Q(pk__in=current.filter(customer_low_id=customer.pk).values("customer_high_id"))
            | Q(pk__in=current.filter(customer_high_id=customer.pk).values("customer_low_id"))
        )
        .annotate(
            friends_since=Coalesce(
                Subquery(low_side.values("since")[:1]), Subquery(high_side.values("since")[:1])
            ),
            is_advocate=Exists(Advocate.objects.filter(customer_id=OuterRef("pk"))),
            strength=interaction_selectors.tie_strength_expression(customer_id=customer.pk),
        )
    )


def advocate_list(*, caller: Caller) -> QuerySet[Advocate]:
    queryset = Advocate.objects.filter(brand_id=caller.brand_id).select_related("customer")
    if caller.is_customer:
        queryset = queryset.filter(customer_id=caller.customer_id)
    return queryset


# --- influence and KOC discovery: one SQL statement each, ranked by (score DESC, id DESC) ----

_TABLES = {
    "advocate": Advocate._meta.db_table,
    "customer": Customer._meta.db_table,
    "friendship": Friendship._meta.db_table,
    "tie": Tie._meta.db_table,
    "post": Post._meta.db_table,
    "delivery": Delivery._meta.db_table,
    "interaction": Interaction._meta.db_table,
}

# Engagement earned by each author over the window: distinct (post, person) pairs with an
# engagement on the author's posts (the author's own actions excluded).
_ENGAGED_SQL = """
    SELECT p.author_id AS me, count(DISTINCT (i.post_id, i.actor_id)) AS engaged
      FROM {interaction} i JOIN {post} p ON p.id = i.post_id
     WHERE i.brand_id = %(brand)s AND i.type = ANY(%(types)s::text[])
       AND i.occurred_at >= %(since)s AND i.actor_id <> p.author_id
     GROUP BY p.author_id
"""

_LEADERBOARD_SQL = """
WITH adv AS (
    SELECT a.id, a.customer_id, a.tier, a.referral_code, c.display_name
      FROM {advocate} a JOIN {customer} c ON c.id = a.customer_id
     WHERE a.brand_id = %(brand)s AND a.status = %(active)s
), fr AS (
    SELECT adv.customer_id AS me, f.customer_high_id AS other
      FROM adv JOIN {friendship} f ON f.customer_low_id = adv.customer_id AND f.ended_at IS NULL
    UNION ALL
    SELECT adv.customer_id, f.customer_low_id
      FROM adv JOIN {friendship} f ON f.customer_high_id = adv.customer_id AND f.ended_at IS NULL
), st AS (
    SELECT fr.me, count(*) AS friends,
           avg(GREATEST(COALESCE(t.strength, 0), COALESCE(r.strength, 0))) AS mean_strength
      FROM fr
      LEFT JOIN {tie} t ON t.source_id = fr.me AND t.target_id = fr.other
      LEFT JOIN {tie} r ON r.source_id = fr.other AND r.target_id = fr.me
     GROUP BY fr.me
), dl AS (
    SELECT p.author_id AS me, count(*) AS deliveries, count(DISTINCT d.recipient_id) AS recipients
      FROM {delivery} d JOIN {post} p ON p.id = d.post_id
     WHERE d.brand_id = %(brand)s AND d.status = 'delivered' AND d.created_at >= %(since)s
     GROUP BY p.author_id
), en AS ({engaged}
), prior AS (
    SELECT COALESCE(
        (SELECT sum(engaged) FROM en)::float8 / NULLIF((SELECT sum(deliveries) FROM dl), 0),
        %(prior_rate)s::float8) AS rate
), ranked AS (
    SELECT adv.*, COALESCE(st.friends, 0) AS reach,
           COALESCE(st.mean_strength, 0)::float8 AS mean_strength,
           COALESCE(dl.deliveries, 0) AS deliveries, COALESCE(dl.recipients, 0) AS recipients,
           COALESCE(en.engaged, 0) AS engaged, prior.rate AS prior_rate,
           (COALESCE(en.engaged, 0) + %(m)s * prior.rate) / (COALESCE(dl.deliveries, 0) + %(m)s)
               AS engagement_rate
      FROM adv CROSS JOIN prior
      LEFT JOIN st ON st.me = adv.customer_id
      LEFT JOIN dl ON dl.me = adv.customer_id
      LEFT JOIN en ON en.me = adv.customer_id
), scored AS (
    SELECT ranked.*,
           round((reach * mean_strength * engagement_rate)::numeric, 9)::float8 AS score
      FROM ranked
)
SELECT * FROM scored WHERE {where} ORDER BY {order} LIMIT %(limit)s
"""


def _fetch_dicts(sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = [column.name for column in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _keyset_params(keyset: Keyset) -> tuple[str, str, dict[str, Any]]:
    where, order, values = keyset.sql()
    where = where.replace("(%s, %s)", "(%(after_score)s, %(after_id)s)")
    params = dict(zip(("after_score", "after_id"), values, strict=True)) if values else {}
    return where, order, params


def advocate_leaderboard(
    *, brand_id: int, keyset: Keyset, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Active advocates ranked by influence = reach × mean tie strength × engagement rate.

    - reach: current friends;
    - mean tie strength: over those friends (a friend with no tie counts 0);
    - engagement rate: engaged (post, person) pairs per delivery of their posts in the window,
      smoothed towards the brand's rate: (engaged + m·prior) / (deliveries + m).
    One statement; rows carry every factor. ``id`` is the advocate id."""
    conf = settings.SCRM
    now = now or timezone.now()
    where, order, cursor_params = _keyset_params(keyset)
    sql = _LEADERBOARD_SQL.format(
        engaged=_ENGAGED_SQL.format(**_TABLES), where=where, order=order, **_TABLES
    )
    return _fetch_dicts(
        sql,
        {
            "brand": brand_id,
            "active": AdvocateStatus.ACTIVE,
            "since": now - timedelta(days=conf["INFLUENCE_WINDOW_DAYS"]),
            "types": list(conf["ENGAGEMENT_TYPES"]),
            "prior_rate": conf["ENGAGEMENT_PRIOR_RATE"],
            "m": conf["ENGAGEMENT_PRIOR_DELIVERIES"],
            "limit": keyset.limit,
            **cursor_params,
        },
    )


_CANDIDATES_SQL = """
WITH cand AS (
    SELECT c.id, c.display_name, c.friend_count, c.lifecycle_stage
      FROM {customer} c
     WHERE c.brand_id = %(brand)s AND c.kind = %(consumer)s AND c.marketing_consent
       AND c.consent_profiling
       AND NOT EXISTS (SELECT 1 FROM {advocate} a WHERE a.customer_id = c.id)
), pairs AS (
    SELECT me, other, max(strength) AS strength FROM (
        SELECT t.source_id AS me, t.target_id AS other, t.strength
          FROM {tie} t JOIN cand ON cand.id = t.source_id
         WHERE t.brand_id = %(brand)s AND t.strength > 0
        UNION ALL
        SELECT t.target_id, t.source_id, t.strength
          FROM {tie} t JOIN cand ON cand.id = t.target_id
         WHERE t.brand_id = %(brand)s AND t.strength > 0
    ) both_directions GROUP BY me, other
), top AS (
    SELECT me, sum(strength) AS top_sum, count(*) AS top_count, max(strength) AS strongest
      FROM (SELECT me, strength,
                   row_number() OVER (PARTITION BY me ORDER BY strength DESC) AS rank
              FROM pairs) ranked_pairs
     WHERE rank <= %(top)s
     GROUP BY me
), en AS ({engaged}
), pu AS (
    SELECT i.target_id AS me, count(*) AS purchases
      FROM {interaction} i
     WHERE i.brand_id = %(brand)s AND i.type = 'purchase' AND i.occurred_at >= %(since)s
     GROUP BY i.target_id
), ranked AS (
    SELECT cand.*,
           COALESCE(top.top_sum, 0)::float8 / %(top)s AS ties_score,
           COALESCE(top.top_count, 0) AS ties_counted,
           COALESCE(top.strongest, 0)::float8 AS strongest_tie,
           COALESCE(en.engaged, 0) AS engaged,
           COALESCE(pu.purchases, 0) AS purchases
      FROM cand
      LEFT JOIN top ON top.me = cand.id
      LEFT JOIN en ON en.me = cand.id
      LEFT JOIN pu ON pu.me = cand.id
     WHERE top.me IS NOT NULL OR en.me IS NOT NULL OR pu.me IS NOT NULL
), termed AS (
    SELECT ranked.*,
           %(w_ties)s * ties_score AS ties_term,
           %(w_engagement)s * (1 - exp(-engaged / %(engagement_scale)s)) AS engagement_term,
           %(w_purchases)s * (1 - exp(-purchases / %(purchase_scale)s)) AS purchases_term
      FROM ranked
), scored AS (
    SELECT termed.*,
           round((ties_term + engagement_term + purchases_term)::numeric, 9)::float8 AS score
      FROM termed
)
SELECT * FROM scored WHERE {where} ORDER BY {order} LIMIT %(limit)s
"""


def advocate_candidates(
    *, brand_id: int, keyset: Keyset, now: datetime | None = None
) -> list[dict[str, Any]]:
    """Consumers who are not advocates and have marketing consent, ranked by advocacy
    potential (weights and scales in ``settings.SCRM["CANDIDATE_*"]``):

    - ties: the sum of their ``CANDIDATE_TOP_TIES`` strongest tie strengths / that number
      (the mean of the top ties, a missing tie counting 0), in 0..1;
    - engagement: engaged (post, person) pairs on their own posts in the window;
    - purchases: purchase events with them as target (bought through their link) in the
      window.
    Each is turned into a 0..weight term; people with none of the three are left out.
    One statement; ``id`` is the customer id."""
    conf = settings.SCRM
    now = now or timezone.now()
    where, order, cursor_params = _keyset_params(keyset)
    sql = _CANDIDATES_SQL.format(
        engaged=_ENGAGED_SQL.format(**_TABLES), where=where, order=order, **_TABLES
    )
    return _fetch_dicts(
        sql,
        {
            "brand": brand_id,
            "consumer": CustomerKind.CONSUMER,
            "since": now - timedelta(days=conf["INFLUENCE_WINDOW_DAYS"]),
            "types": list(conf["ENGAGEMENT_TYPES"]),
            "top": conf["CANDIDATE_TOP_TIES"],
            "w_ties": conf["CANDIDATE_W_TIES"],
            "w_engagement": conf["CANDIDATE_W_ENGAGEMENT"],
            "w_purchases": conf["CANDIDATE_W_PURCHASES"],
            "engagement_scale": float(conf["CANDIDATE_ENGAGEMENT_SCALE"]),
            "purchase_scale": float(conf["CANDIDATE_PURCHASE_SCALE"]),
            "limit": keyset.limit,
            **cursor_params,
        },
    )
