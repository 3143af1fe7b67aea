"""Full recompute of a brand's ties from the whole interaction log, in set-based SQL.

One transaction per brand (readers keep seeing the previous state until it commits — MVCC,
no table swap), holding the brand's exclusive scoring lock so no incremental batch
interleaves:

1. claim: mark the brand's unscored interactions scored (events committed later stay
   unscored and reach the ties through the worker, on top of the rebuilt state);
2. pairs: one aggregate pass over the log builds every directed pair's affinity,
   components and last dated time. Each term is w·2^(−(T0 − t)/H) with T0 = the as-of time,
   summed per pair and rescaled once by 2^((T0 − t_ref)/H): the closed form referenced to
   the pair's own latest time (`scoring.from_events`) without a second pass over the log;
3. undirected pairs: intensity as of now, prune test (both directions idle ≥ PRUNE_IDLE_DAYS
   and below PRUNE_MIN_AFFINITY);
4. κ = percentile_cont of I over the kept pairs with I > 0;
5. mutual friends: |N(u) ∩ N(v)| for every kept pair, expanding the endpoint with fewer
   friends and probing the other's adjacency (cost Σ min(deg), safe around hubs);
6. strength (friendship duration of the current edge, Jaccard, κ) and the writes: upsert
   both rows of every kept pair, zero the scores of other rows that hold a negative flag,
   delete the rest; TieStats.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from .scoring import UNLIKE, TieParams
from .scoring_db import (
    COMPONENTS,
    FLAG_COLUMNS,
    FTAB,
    ITAB,
    TTAB,
    _f,
    component_of,
    dated_case,
    intensity_sql,
    lock_brand_exclusive,
    seconds_between,
    strength_sql,
    tie_stats_upsert_sql,
    value_at_sql,
    weight_case,
    weighted_types,
)

Progress = Callable[[str, float, int], None]


@dataclass
class RecomputeReport:
    brand_id: int
    kappa: float = 0.0
    pairs: int = 0
    active_pairs: int = 0
    deleted: int = 0
    claimed: int = 0
    seconds: float = 0.0
    steps: list[tuple[str, float, int]] = field(default_factory=list)


def _steps_sql(params: TieParams) -> list[tuple[str, str]]:
    comps = [f"c_{name}" for name in COMPONENTS]
    ref = "%(t0)s::float8"
    h = _f(params.half_life_seconds)
    # Per term: w · 2^((t − T0)/H) (exponent ≤ ~0: t ≤ as-of); then rescaled per pair.
    term = (
        f"{weight_case('i.type', params)} * power(2::float8, "
        f"(date_part('epoch', {dated_case('i.type', 'i.occurred_at', 'i.cancels_at')}) - {ref})"
        f" / {h})"
    )
    comp_expr = component_of("i.type")
    sums = ",\n".join(f"sum(x) FILTER (WHERE comp = '{name}') AS s_{name}" for name in COMPONENTS)
    scale = f"power(2::float8, ({ref} - date_part('epoch', last)) / {h})"
    rescaled = ", ".join(
        f"COALESCE(s_{name}, 0::float8) * {scale} AS c_{name}" for name in COMPONENTS
    )
    a_lh = value_at_sql("f.affinity", "f.last_event_at", "%(as_of)s", params)
    a_hl = value_at_sql("r.affinity", "r.last_event_at", "%(as_of)s", params)
    idle = f"make_interval(secs => {_f(params.prune_idle_days * 86400.0)})"
    floor = _f(params.prune_min_affinity)

    def prunable(alias: str, value: str) -> str:
        """scoring.should_prune of one direction (no state counts as prunable)."""
        last = f"{alias}.last_event_at"
        return f"({last} IS NULL OR ({last} <= %(as_of)s - {idle} AND {value} < {floor}))"

    prunable_f, prunable_r = prunable("f", a_lh), prunable("r", a_hl)
    days = f"COALESCE({seconds_between('%(as_of)s', 'fr.since')} / 86400.0, 0::float8)"
    strength = strength_sql("u.intensity", "u.days", "u.jac", "%(kappa)s::float8", params)
    col_list = ", ".join(comps)
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in comps)
    zero = ", ".join(f"{c} = 0" for c in comps)
    has_flag = " OR ".join(f"t.{c} IS NOT NULL" for c in FLAG_COLUMNS)
    return [
        ("setup", "DROP TABLE IF EXISTS _rc_dir, _rc_pair"),
        (
            "claim",
            f"""UPDATE {ITAB} SET scored_at = %(now)s
                 WHERE brand_id = %(brand)s AND scored_at IS NULL""",  # noqa: S608
        ),
        (
            "pairs",
            f"""CREATE TEMP TABLE _rc_dir ON COMMIT DROP AS
                SELECT s, g, last, {rescaled},
                       COALESCE(s_all, 0::float8) * {scale} AS affinity
                  FROM (
                    SELECT s, g, max(dated) AS last, sum(x) AS s_all, {sums}
                      FROM (
                        SELECT i.actor_id AS s, i.target_id AS g, {comp_expr} AS comp,
                               {dated_case("i.type", "i.occurred_at", "i.cancels_at")} AS dated,
                               {term} AS x
                          FROM {ITAB} i
                         WHERE i.brand_id = %(brand)s AND i.scored_at IS NOT NULL
                           AND i.type = ANY(%(weighted)s::text[])
                           AND (i.type <> '{UNLIKE}' OR i.cancels_at IS NOT NULL)
                      ) AS e
                     GROUP BY s, g
                  ) AS a""",  # noqa: S608
        ),
        ("pairs:analyze", "ANALYZE _rc_dir"),
        (
            "undirected",
            f"""CREATE TEMP TABLE _rc_pair ON COMMIT DROP AS
                SELECT lo, hi, intensity, days, 0::float8 AS jac, 0::float8 AS strength
                  FROM (
                    SELECT k.lo, k.hi, {intensity_sql(a_lh, a_hl, params)} AS intensity,
                           {prunable_f} AND {prunable_r} AS prune, {days} AS days
                      FROM (SELECT DISTINCT LEAST(s, g) AS lo, GREATEST(s, g) AS hi
                              FROM _rc_dir) AS k
                      LEFT JOIN (SELECT s, g, affinity, last AS last_event_at FROM _rc_dir) f
                        ON f.s = k.lo AND f.g = k.hi
                      LEFT JOIN (SELECT s, g, affinity, last AS last_event_at FROM _rc_dir) r
                        ON r.s = k.hi AND r.g = k.lo
                      LEFT JOIN {FTAB} fr
                        ON fr.brand_id = %(brand)s AND fr.customer_low_id = k.lo
                       AND fr.customer_high_id = k.hi AND fr.ended_at IS NULL
                  ) AS x
                 WHERE NOT prune""",  # noqa: S608
        ),
        ("undirected:analyze", "ANALYZE _rc_pair"),
        (
            "kappa",
            """SELECT percentile_cont(%(q)s) WITHIN GROUP (ORDER BY intensity), count(*)
                 FROM _rc_pair WHERE intensity > 0""",
        ),
        (
            "mutual",
            f"""WITH adj AS MATERIALIZED (
                    SELECT customer_low_id AS u, customer_high_id AS w FROM {FTAB}
                     WHERE brand_id = %(brand)s AND ended_at IS NULL
                    UNION ALL
                    SELECT customer_high_id, customer_low_id FROM {FTAB}
                     WHERE brand_id = %(brand)s AND ended_at IS NULL
                ), deg AS (
                    SELECT u, count(*) AS d FROM adj GROUP BY u
                ), p AS (
                    SELECT p.lo, p.hi, COALESCE(dl.d, 0) AS dl, COALESCE(dh.d, 0) AS dh,
                           EXISTS (SELECT 1 FROM adj WHERE adj.u = p.lo AND adj.w = p.hi) AS fr
                      FROM _rc_pair p
                      LEFT JOIN deg dl ON dl.u = p.lo LEFT JOIN deg dh ON dh.u = p.hi
                ), m AS (
                    SELECT p.lo, p.hi, count(*) AS mutual
                      FROM p
                      JOIN adj x ON x.u = CASE WHEN p.dl <= p.dh THEN p.lo ELSE p.hi END
                      JOIN adj y ON y.u = CASE WHEN p.dl <= p.dh THEN p.hi ELSE p.lo END
                                AND y.w = x.w
                     GROUP BY p.lo, p.hi
                )
                UPDATE _rc_pair AS t
                   SET jac = COALESCE(m.mutual::float8 / NULLIF(
                       (p.dl - p.fr::int) + (p.dh - p.fr::int) - m.mutual, 0), 0::float8)
                  FROM m JOIN p USING (lo, hi)
                 WHERE t.lo = m.lo AND t.hi = m.hi""",  # noqa: S608
        ),
        (
            "strength",
            f"UPDATE _rc_pair AS u SET strength = {strength}",  # noqa: S608
        ),
        (
            "write",
            f"""INSERT INTO {TTAB} AS t (brand_id, source_id, target_id, last_event_at,
                                        affinity, {col_list}, strength, intensity,
                                        mutual_jaccard, strength_updated_at, created_at,
                                        updated_at)
                SELECT %(brand)s, d.src, d.dst, n.last, COALESCE(n.affinity, 0::float8),
                       {", ".join(f"COALESCE(n.{c}, 0::float8)" for c in comps)},
                       p.strength, p.intensity, p.jac, %(as_of)s, %(now)s, %(now)s
                  FROM _rc_pair p
                  CROSS JOIN LATERAL (VALUES (p.lo, p.hi), (p.hi, p.lo)) AS d(src, dst)
                  LEFT JOIN _rc_dir n ON n.s = d.src AND n.g = d.dst
                ON CONFLICT (source_id, target_id) DO UPDATE SET
                    last_event_at = EXCLUDED.last_event_at, affinity = EXCLUDED.affinity,
                    {sets}, strength = EXCLUDED.strength, intensity = EXCLUDED.intensity,
                    mutual_jaccard = EXCLUDED.mutual_jaccard,
                    strength_updated_at = EXCLUDED.strength_updated_at,
                    updated_at = EXCLUDED.updated_at""",  # noqa: S608
        ),
        (
            "prune",
            f"""WITH gone AS (
                    SELECT t.id, ({has_flag}) AS flagged FROM {TTAB} t
                     WHERE t.brand_id = %(brand)s AND NOT EXISTS (
                         SELECT 1 FROM _rc_pair p
                          WHERE p.lo = LEAST(t.source_id, t.target_id)
                            AND p.hi = GREATEST(t.source_id, t.target_id))
                ), zeroed AS (
                    UPDATE {TTAB} t SET last_event_at = NULL, affinity = 0, {zero},
                           strength = 0, intensity = 0, mutual_jaccard = 0,
                           strength_updated_at = %(as_of)s, updated_at = %(now)s
                      FROM gone WHERE t.id = gone.id AND gone.flagged
                       AND (t.last_event_at IS NOT NULL OR t.strength <> 0
                            OR t.affinity <> 0 OR t.intensity <> 0)
                )
                DELETE FROM {TTAB} t USING gone WHERE t.id = gone.id AND NOT gone.flagged""",  # noqa: S608
        ),
    ]


def brand_ids() -> list[int]:
    from scrm.tenancy.models import Brand

    return list(Brand.objects.order_by("pk").values_list("pk", flat=True))


def ties_recompute(
    *,
    brand_id: int,
    as_of: datetime | None = None,
    params: TieParams | None = None,
    progress: Progress | None = None,
) -> RecomputeReport:
    """Rebuild one brand's ties from its whole log; one transaction (see the module doc)."""
    params = params or TieParams.from_settings()
    started = time.perf_counter()
    now = timezone.now()
    as_of = as_of or now
    report = RecomputeReport(brand_id=brand_id)
    args = {
        "brand": brand_id,
        "now": now,
        "as_of": as_of,
        "t0": as_of.timestamp(),
        "weighted": weighted_types(params),
        "q": params.kappa_percentile / 100.0,
    }
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT set_config('work_mem', %s, true)", [settings.SCRM["RECOMPUTE_WORK_MEM"]]
        )
        step_started = time.perf_counter()
        lock_brand_exclusive(cursor, brand_id)
        _note(report, progress, "lock", step_started, 0)
        for name, sql in _steps_sql(params):
            step_started = time.perf_counter()
            if name == "strength":
                args["kappa"] = report.kappa
            cursor.execute(sql, args)
            rows = cursor.rowcount
            if name == "kappa":
                value, active = cursor.fetchone()
                report.active_pairs = active
                report.kappa = (
                    params.kappa_default if value is None else max(value, params.kappa_min)
                )
                rows = active
            elif name == "claim":
                report.claimed = rows
            elif name == "undirected":
                report.pairs = rows
            elif name == "prune":
                report.deleted = rows
            _note(report, progress, name, step_started, rows)
        report.seconds = time.perf_counter() - started
        cursor.execute(
            tie_stats_upsert_sql(),
            {
                "brand": brand_id,
                "kappa": report.kappa,
                "active": report.active_pairs,
                "as_of": as_of,
                "rec_at": now,
                "rec_s": report.seconds,
            },
        )
    return report


def ties_recompute_all(*, progress: Progress | None = None) -> list[RecomputeReport]:
    """Every brand, one transaction each."""
    return [ties_recompute(brand_id=brand_id, progress=progress) for brand_id in brand_ids()]


def _note(
    report: RecomputeReport, progress: Progress | None, name: str, since: float, rows: int
) -> None:
    seconds = time.perf_counter() - since
    report.steps.append((name, seconds, rows))
    if progress is not None:
        progress(name, seconds, rows)
