"""Retention of raw interactions: fold events older than a brand's period into per-pair
aggregates (`FoldedPair`) and delete them; the full recompute reads the aggregates alongside
the log (`with_folded`), so a recompute after a fold equals one before it.

Why it stays exact: a pair's affinity is linear in its events, Σ w(type)·2^((t − T0)/H). A
folded pair keeps, per type, D = Σ 2^((t − R)/H) at its reference time R; its part of the
sum at T0 is w(type)·D·2^((R − T0)/H). Weights are applied at recompute time (they may
change); the half-life is baked in (changing ``SCRM_TIE_HALF_LIFE_DAYS`` after a fold would
make folded pairs decay at the old rate). A later fold moves R forward and scales the old
sums by 2^((R_old − R_new)/H).

What is folded: events of the brand older than the cutoff that are already scored (not in
the scoring outbox), except those on posts of a campaign (the campaign report counts them).
Negative signals are deleted without an aggregate: their flags live on the tie rows.
Everything runs under the brand's exclusive scoring lock, like a recompute.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from interactions.scoring import LIKE, UNLIKE, TieParams
from interactions.scoring_db import COMPONENTS, referenced_sql, weighted_types
from interactions.services import scoring_lock_brand
from scrm.tenancy.models import Brand

from .models import FOLDED_TYPES, FoldedPair, RetentionPolicy

FTAB = FoldedPair._meta.db_table
MIN_EXPONENT = -1000.0  # half-lives, as the recompute's reference cap


@dataclass
class FoldReport:
    brand_id: int
    cutoff: datetime | None
    deleted: int = 0
    pairs: int = 0

    def as_dict(self) -> dict:
        data = asdict(self)
        data["cutoff"] = self.cutoff.isoformat() if self.cutoff else None
        return data


@transaction.atomic
def retention_policy_set(*, brand: Brand, raw_interaction_days: int | None) -> RetentionPolicy:
    minimum = settings.SCRM["RETENTION_MIN_DAYS"]
    if raw_interaction_days is not None and raw_interaction_days < minimum:
        raise ValidationError(
            {"raw_interaction_days": [f"At least {minimum} days, or empty to keep everything."]}
        )
    policy, _ = RetentionPolicy.objects.update_or_create(
        brand=brand, defaults={"raw_interaction_days": raw_interaction_days}
    )
    return policy


def _fold_sql(params: TieParams) -> str:
    h = f"{params.half_life_seconds!r}::float8"

    def decayed(dated: str) -> str:
        return (
            f"power(2::float8, GREATEST((date_part('epoch', {dated}) - date_part('epoch', "
            f"%(ref)s::timestamptz)) / {h}, {MIN_EXPONENT!r}::float8))"
        )

    sums = ",\n".join(
        f"COALESCE(sum(x) FILTER (WHERE type = '{name}'), 0::float8) AS d_{name}"
        for name in FOLDED_TYPES
    )
    columns = ", ".join(f"d_{name}" for name in FOLDED_TYPES)
    merged = ", ".join(
        f"d_{name} = f.d_{name} * power(2::float8, GREATEST((date_part('epoch', f.ref_at) - "
        f"date_part('epoch', EXCLUDED.ref_at)) / {h}, {MIN_EXPONENT!r}::float8)) "
        f"+ EXCLUDED.d_{name}"
        for name in FOLDED_TYPES
    )
    folded = ", ".join(f"'{name}'" for name in FOLDED_TYPES)
    return f"""
    WITH gone AS (
        DELETE FROM interactions_interaction i
         WHERE i.brand_id = %(brand)s AND i.occurred_at < %(ref)s
           AND NOT EXISTS (SELECT 1 FROM interactions_scoring_pending q
                            WHERE q.interaction_id = i.id)
           AND NOT EXISTS (SELECT 1 FROM campaigns_post p
                            WHERE p.id = i.post_id AND p.campaign_id IS NOT NULL)
        RETURNING i.actor_id, i.target_id, i.type, i.occurred_at, i.cancels_at
    ), dated AS (
        SELECT actor_id AS s, target_id AS g, type,
               CASE WHEN type = 'unlike' THEN cancels_at ELSE occurred_at END AS t
          FROM gone
    ), agg AS (
        SELECT s, g, count(*) AS n,
               max(t) FILTER (WHERE type IN ({folded}) AND t IS NOT NULL) AS last,
               {sums}
          FROM (SELECT s, g, type, t, {decayed("t")} AS x FROM dated
                 WHERE type IN ({folded}) AND t IS NOT NULL
                UNION ALL
                SELECT s, g, type, NULL, NULL FROM dated
                 WHERE type NOT IN ({folded}) OR t IS NULL) AS e
         GROUP BY s, g
    ), written AS (
        INSERT INTO {FTAB} AS f (brand_id, source_id, target_id, ref_at, last_at, events,
                                 {columns})
        SELECT %(brand)s, s, g, %(ref)s, last, n, {columns} FROM agg ORDER BY s, g
        ON CONFLICT (source_id, target_id) DO UPDATE SET
            {merged},
            ref_at = EXCLUDED.ref_at,
            last_at = GREATEST(f.last_at, EXCLUDED.last_at),
            events = f.events + EXCLUDED.events
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM written)
    """  # noqa: S608 (our own statement; values are parameters)


def interactions_fold(
    *, brand_id: int, before: datetime, params: TieParams | None = None
) -> FoldReport:
    """Fold the brand's raw interactions that occurred before ``before`` (see the module
    doc). Idempotent: a second fold with the same cutoff finds nothing left to fold."""
    params = params or TieParams.from_settings()
    report = FoldReport(brand_id=brand_id, cutoff=before)
    with transaction.atomic():
        scoring_lock_brand(brand_id=brand_id)
        with connection.cursor() as cursor:
            cursor.execute(_fold_sql(params), {"brand": brand_id, "ref": before})
            report.deleted, report.pairs = cursor.fetchone()
    return report


def retention_apply(*, brand_id: int, now: datetime | None = None) -> FoldReport:
    """Apply the brand's retention policy (nothing when it keeps everything)."""
    now = now or timezone.now()
    policy = RetentionPolicy.objects.filter(brand_id=brand_id).first()
    if policy is None or policy.raw_interaction_days is None:
        return FoldReport(brand_id=brand_id, cutoff=None)
    report = interactions_fold(
        brand_id=brand_id, before=now - timedelta(days=policy.raw_interaction_days)
    )
    RetentionPolicy.objects.filter(pk=policy.pk).update(
        last_folded_at=now, last_fold=report.as_dict()
    )
    return report


def brands_with_retention() -> list[int]:
    return list(
        RetentionPolicy.objects.filter(raw_interaction_days__isnull=False)
        .order_by("brand_id")
        .values_list("brand_id", flat=True)
    )


# --- what the recompute reads ----------------------------------------------------------------


def with_folded(directed_sql: str, parts: list[str], params: TieParams) -> str:
    """The recompute's per-directed-pair pass over the log (``directed_sql``: columns b, s, g,
    last and ``parts``) with the brands' folded pairs added: the same columns, summed."""
    by_part: dict[str, list[str]] = {part: [] for part in parts}
    for name in weighted_types(params):
        weight = params.weight(name)
        if weight == 0 or name not in FOLDED_TYPES:
            continue
        component = LIKE if name == UNLIKE else name
        part = f"s_c_{component}" if component in COMPONENTS else "s_other"
        if part in by_part:
            by_part[part].append(f"{weight!r}::float8 * f.d_{name}")
    scale = referenced_sql("f.ref_at", params)
    folded_cols = ", ".join(
        f"({' + '.join(terms)}) * {scale} AS {part}" if terms else f"0::float8 AS {part}"
        for part, terms in by_part.items()
    )
    sums = ", ".join(f"sum({part}) AS {part}" for part in parts)
    return f"""SELECT b, s, g, max(last) AS last, {sums} FROM (
        {directed_sql}
        UNION ALL
        SELECT f.brand_id, f.source_id, f.target_id, f.last_at, {folded_cols}
          FROM {FTAB} f
         WHERE f.brand_id = ANY(%(brands)s::bigint[])
    ) AS log_and_folded GROUP BY b, s, g"""  # noqa: S608
