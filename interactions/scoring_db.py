"""Tie scoring in PostgreSQL: the incremental worker's service and the SQL it shares with the
full recompute (`interactions.recompute`). The math is `interactions.scoring`; this module
only mirrors it in set-based SQL (float8).

Concurrency: a brand's events are split into ``SCORING_PARTITIONS`` partitions by pair
(``pair_key`` = actor + target in the outbox row, the same for both directions). A full
recompute takes an exclusive PostgreSQL advisory lock per brand; an incremental batch takes
that lock shared plus an exclusive lock per (brand, partition) (in brand order): one writer
of a pair's tie scores at a time. A batch reads the current tie rows and writes their new
state in one statement, which is exact only because nothing else writes those scores
meanwhile; batches of one partition queue up on its lock, and the next one takes everything
that became pending in it meanwhile (bigger batches under load, never many small ones
fighting over the same rows), while batches of the other partitions run at the same time. A
batch waits at most ``SCORING_LOCK_TIMEOUT_MS`` and is then retried by Celery; events it
leaves unscored are picked up by the sweeper (`ties_score_unscored`). Ingest writes only the
negative-signal flag columns of tie rows, which scoring never sets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Friendship, profiling_withheld_sql

from .models import Interaction, ScoringPending, Tie, TieStats
from .scoring import (
    ACTIVE_INTENSITY_MIN,
    LIKE,
    NEGATIVE_SIGNALS,
    UNLIKE,
    TieParams,
    saturation_scale,
)

logger = logging.getLogger(__name__)

ITAB = Interaction._meta.db_table
TTAB = Tie._meta.db_table
STAB = TieStats._meta.db_table
PTAB = ScoringPending._meta.db_table
FTAB = Friendship._meta.db_table
COMPONENTS: tuple[str, ...] = Tie.COMPONENT_TYPES
FLAG_COLUMNS = ("blocked_at", "reported_at", "muted_at", "unfriended_at", "last_hidden_at")
LOCK_NAMESPACE = 0x5C0E  # high 32 bits of the advisory lock key; the brand id is the low 32


def brand_lock_key(brand_id: int) -> int:
    return (LOCK_NAMESPACE << 32) | (brand_id & 0xFFFFFFFF)


def lock_brand_exclusive(cursor, brand_id: int) -> None:
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [brand_lock_key(brand_id)])


# --- SQL fragments mirroring scoring.py ----------------------------------------------------


def _f(value: float) -> str:
    """A float literal (values come from validated TieParams, never from requests)."""
    return f"{float(value)!r}::float8"


def weighted_types(params: TieParams) -> list[str]:
    """Types that move a pair's state (weight may be 0, e.g. view): all but negative signals."""
    return sorted({*params.weights, UNLIKE} - NEGATIVE_SIGNALS)


def type_lookup_sql(params: TieParams, alias: str, *, unfriend: bool = False) -> str:
    """A VALUES table ``alias(type, w, comp, unlike)`` of the weighted types, joined on the
    event's type: its weight, the 0-based position of its component in ``COMPONENTS``
    (NULL: none, e.g. view; unlike counts as like) and whether it is an unlike — one hash
    probe per event instead of per-use ``CASE`` chains of text comparisons. With
    ``unfriend``, also ``unfriend`` without a weight (the worker puts its pair in a batch:
    the friendship-duration term changed)."""
    rows = []
    for name in weighted_types(params):
        component = LIKE if name == UNLIKE else name
        index = COMPONENTS.index(component) if component in COMPONENTS else "NULL"
        rows.append(f"('{name}'::text, {_f(params.weight(name))}, {index}::int, {name == UNLIKE})")
    if unfriend:
        rows.append("('unfriend'::text, NULL::float8, NULL::int, false)")
    return f"(VALUES {', '.join(rows)}) AS {alias}(type, w, comp, unlike)"


MIN_DECAY_EXPONENT = -700.0  # half-lives; PostgreSQL raises on float underflow, Python not


def decay_sql(seconds_sql: str, params: TieParams) -> str:
    """2^(−Δ/H) for Δ seconds (float8). Gaps beyond 700 half-lives (27 years at H = 14 d)
    count as 700: the factor (~1e-211) is zero for every purpose but cannot underflow."""
    exponent = f"-({seconds_sql}) / {_f(params.half_life_seconds)}"
    return f"power(2::float8, GREATEST({exponent}, {MIN_DECAY_EXPONENT!r}::float8))"


# Sums referenced to the as-of time T0 keep exponents within ±1000 half-lives (38 years at
# H = 14 d): no float underflow or overflow.
REFERENCE_CAP = 1000.0


def referenced_sql(dated: str, params: TieParams, t0: str = "%(t0)s::float8") -> str:
    """2^((t − T0)/H) of a term dated ``dated``: terms referenced to T0 (epoch seconds) add
    up without knowing their pair's latest time (exponent ≤ ~0: t ≤ as-of)."""
    h = _f(params.half_life_seconds)
    return (
        f"power(2::float8, GREATEST((date_part('epoch', {dated}) - {t0}) / {h}, "
        f"{-REFERENCE_CAP!r}::float8))"
    )


def rescale_sql(last: str, params: TieParams, t0: str = "%(t0)s::float8") -> str:
    """2^((T0 − last)/H): moves a sum referenced to T0 to its latest dated time ``last``."""
    h = _f(params.half_life_seconds)
    return (
        f"power(2::float8, LEAST(({t0} - date_part('epoch', {last})) / {h}, "
        f"{REFERENCE_CAP!r}::float8))"
    )


def seconds_between(later: str, earlier: str) -> str:
    return f"date_part('epoch', ({later}) - ({earlier}))"


def intensity_sql(a_uv: str, a_vu: str, params: TieParams) -> str:
    """scoring.intensity: (x + y)·(FLOOR + (1 − FLOOR)·min/max), negatives count as 0."""
    x, y = f"GREATEST({a_uv}, 0::float8)", f"GREATEST({a_vu}, 0::float8)"
    floor = params.reciprocity_floor
    return (
        f"(({x} + {y}) * CASE WHEN GREATEST({x}, {y}) <= 0 THEN 1::float8 "
        f"ELSE {_f(floor)} + {_f(1 - floor)} * LEAST({x}, {y}) / GREATEST({x}, {y}) END)"
    )


def strength_sql(intensity: str, friend_days: str, jaccard: str, kappa: str, p: TieParams) -> str:
    """scoring.strength in SQL: 1 − (1 + c·E/κ)^(−p), E = I·(1 + β_D·D)·(1 + β_M·J);
    ``kappa`` is clamped to ``kappa_min`` here."""
    kap = f"GREATEST({kappa}, {_f(p.kappa_min)})"
    # exp() arguments are capped at 700 (e^−700 ≈ 1e-304): PostgreSQL raises on underflow.
    d_arg = f"LEAST(GREATEST({friend_days}, 0::float8) / {_f(p.duration_scale_days)}, 700::float8)"
    d_factor = f"(1::float8 + {_f(p.duration_weight)} * (1::float8 - exp(-{d_arg})))"
    m_factor = (
        f"(1::float8 + {_f(p.mutual_weight)} * LEAST(GREATEST({jaccard}, 0::float8), 1::float8))"
    )
    evidence = f"(GREATEST({intensity}, 0::float8) * {d_factor} * {m_factor})"
    scale = _f(saturation_scale(p))
    total = (
        f"1::float8 - power(1::float8 + {scale} * {evidence} / {kap}, {_f(-p.saturation_power)})"
    )
    return f"LEAST(GREATEST({total}, 0::float8), 1::float8)"


def value_at_sql(affinity: str, last_at: str, as_of: str, params: TieParams) -> str:
    """scoring.value_at: affinity decayed to ``as_of`` (0 without state, no growth on skew)."""
    age = f"GREATEST({seconds_between(as_of, last_at)}, 0::float8)"
    return f"COALESCE({affinity} * {decay_sql(age, params)}, 0::float8)"


# --- incremental worker --------------------------------------------------------------------


@dataclass(frozen=True)
class BatchResult:
    claimed: int
    pairs: int

    def as_dict(self) -> dict:
        return {"claimed": self.claimed, "pairs": self.pairs}


def _batch_sql(params: TieParams) -> str:
    """The whole batch in one statement: claim it in the outbox, aggregate per undirected
    pair (both directions side by side), merge into both directed rows and refresh their
    strength; answers one row: events claimed, undirected pairs touched.

    Runs under the exclusive scoring lock of its brands (taken by the statement before), so
    the tie rows it reads are the latest state and no other batch writes them until this
    transaction ends: the new state of both directions is computed from that read and
    written once, with strength and intensity, by one upsert (one row version per tie).

    The claim deletes the outbox rows of the task's ids plus each brand's oldest pending rows,
    up to %(fill)s per brand, of partition %(part)s (pair_key mod %(parts)s) only (under load
    one task applies everything that became pending while the batch before it held the lock;
    tasks that find their ids gone do nothing). No other transaction claims a partition's
    rows while its lock is held, so none are skipped or waited for.

    Every lookup (the log row of a claimed id, the two tie rows and the friendship of a
    pair, κ) is an index probe per row of the batch (``LATERAL … LIMIT 1``), and no CTE is
    joined to another: the plan cannot turn into nested loops over CTEs whose sizes the
    planner cannot know, nor into scans of whole tables.

    Per-row cost: PostgreSQL pulls simple subqueries up into the query above them and then
    evaluates a column's expression wherever it is used (no common-subexpression
    elimination): a decay factor used by eight sums would be computed eight times. Every
    stage that computes something used more than once therefore ends with ``OFFSET 0``
    (the subquery stays a subquery: its columns are computed once per row); an event's
    weight, component and unlike flag come from the tiny `type_lookup_sql` join.

    Per direction the batch is summed referenced to its own latest dated time ``b_last``
    (each term w·2^((t − T0)/H), T0 = the as-of time, rescaled once by 2^((T0 − b_last)/H);
    exponents are kept within ±1000 half-lives, as in the recompute); the stored state
    (S, last) and the batch (B, b_last) merge as
    ``S·2^(−(new_last − last)/H) + B·2^(−(new_last − b_last)/H)``, new_last = GREATEST —
    the in-order and the out-of-order rule of `scoring.apply` at once. Strength is written
    for pairs with interaction state (flag-only rows keep 0), as in the recompute; a pair
    touched by an unfriend only (the friendship-duration term changed) is refreshed if it
    has state.
    """
    cols = ("affinity", *(f"c_{name}" for name in COMPONENTS))
    term = referenced_sql("d.dated", params)

    def side_sums(d: str, cond: str) -> str:
        parts = [f"max(dated) FILTER (WHERE w IS NOT NULL AND {cond}) AS {d}_last"]
        parts.append(f"sum(x) FILTER (WHERE {cond}) AS {d}_s_affinity")
        parts += [
            f"sum(x) FILTER (WHERE {cond} AND comp = {index}) AS {d}_s_c_{name}"
            for index, name in enumerate(COMPONENTS)
        ]
        return ",\n".join(parts)

    def side_scale(d: str) -> str:
        return f"{rescale_sql(f'{d}_last', params)} AS {d}_sc"

    def side_rescaled(d: str) -> str:
        return ",\n".join(f"COALESCE({d}_s_{c}, 0::float8) * {d}_sc AS {d}_b_{c}" for c in cols)

    def side_factors(d: str) -> str:
        """Direction d's new last time and the decay factors of the stored row (d_t_*) and
        of the batch (d_b_*) to it, computed once per pair."""
        new_last = f"GREATEST({d}_t_last, {d}_b_last)"
        f_old = f"COALESCE({decay_sql(seconds_between(new_last, f'{d}_t_last'), params)}, 1)"
        f_new = f"COALESCE({decay_sql(seconds_between(new_last, f'{d}_b_last'), params)}, 1)"
        return f"{new_last} AS {d}_last, {f_old} AS {d}_fo, {f_new} AS {d}_fn"

    def side_merged(d: str) -> str:
        return ",\n".join(
            f"COALESCE({d}_t_{c}, 0::float8) * {d}_fo + COALESCE({d}_b_{c}, 0::float8) * {d}_fn "
            f"AS {d}_{c}"
            for c in cols
        )

    def stored(d: str, src: str, dst: str) -> str:
        picked = ", ".join(f"{c} AS {d}_t_{c}" for c in cols)
        return f"""LEFT JOIN LATERAL (
                SELECT last_event_at AS {d}_t_last, {picked}, mutual_jaccard AS {d}_t_jac
                  FROM {TTAB} WHERE source_id = {src} AND target_id = {dst} LIMIT 1
             ) AS t_{d} ON true"""  # noqa: S608

    a_f = value_at_sql("f_affinity", "f_last", "%(as_of)s", params)
    a_r = value_at_sql("r_affinity", "r_last", "%(as_of)s", params)
    days = f"COALESCE({seconds_between('%(as_of)s', 'fr.since')} / 86400.0, 0::float8)"
    stats = f"SELECT kappa FROM {STAB} st WHERE st.brand_id = m.b"  # noqa: S608
    kappa = f"COALESCE(({stats}), {_f(params.kappa_default)})"
    strength = strength_sql("m.intensity", "m.days", "m.jac", kappa, params)
    f_cols = ", ".join(["s.f_last", *(f"s.f_{c}" for c in cols)])
    r_cols = ", ".join(["s.r_last", *(f"s.r_{c}" for c in cols)])
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols)
    return f"""
    WITH claim AS MATERIALIZED (
        -- The task's ids, and per brand its oldest pending ids read in index order (the
        -- brand's whole backlog is neither sorted nor hashed).
        DELETE FROM {PTAB} p
         WHERE p.interaction_id = ANY(ARRAY(
                SELECT x FROM unnest(%(ids)s::bigint[]) AS x
                UNION
                SELECT q.x FROM unnest(%(brands)s::bigint[]) AS br(b)
                 CROSS JOIN LATERAL (
                       SELECT interaction_id AS x FROM {PTAB}
                        WHERE brand_id = br.b AND mod(pair_key, %(parts)s::bigint) = %(part)s
                        ORDER BY interaction_id LIMIT %(fill)s) AS q))
           AND p.brand_id = ANY(%(brands)s::bigint[])
           AND mod(p.pair_key, %(parts)s::bigint) = %(part)s
        RETURNING p.interaction_id
    ), pair AS MATERIALIZED (
        -- One row per undirected pair (lo < hi): the batch of each direction (f: lo → hi,
        -- r: hi → lo); an unfriend only puts its pair here (w IS NULL: no contribution).
        SELECT b, lo, hi, f_last AS f_b_last, r_last AS r_b_last,
               {side_rescaled("f")}, {side_rescaled("r")}
          FROM (
            SELECT *, {side_scale("f")}, {side_scale("r")} FROM (
            SELECT b, lo, hi, {side_sums("f", "fwd")}, {side_sums("r", "NOT fwd")}
              FROM (
                SELECT e.b, LEAST(e.s, e.g) AS lo, GREATEST(e.s, e.g) AS hi, e.s < e.g AS fwd,
                       tt.comp, tt.w, d.dated, tt.w * {term} AS x
                  FROM claim
                 CROSS JOIN LATERAL (
                       SELECT brand_id AS b, actor_id AS s, target_id AS g, type, occurred_at,
                              cancels_at
                         FROM {ITAB} WHERE id = claim.interaction_id LIMIT 1) AS e
                  JOIN {type_lookup_sql(params, "tt", unfriend=True)} ON tt.type = e.type::text
                 CROSS JOIN LATERAL (
                       SELECT CASE WHEN tt.unlike THEN e.cancels_at ELSE e.occurred_at END
                              AS dated) AS d
                 WHERE (tt.w IS NULL OR NOT tt.unlike OR e.cancels_at IS NOT NULL)
                   AND NOT {profiling_withheld_sql("e.s", "e.g")}
                OFFSET 0
              ) AS ev
             GROUP BY b, lo, hi
            ) AS sums
            OFFSET 0
          ) AS scaled
    ), scored AS MATERIALIZED (
        SELECT m.*, {strength} AS strength
          FROM (
            SELECT v.*, {intensity_sql("v.a_f", "v.a_r", params)} AS intensity
              FROM (
                SELECT n.*, {a_f} AS a_f, {a_r} AS a_r, {days} AS days
                  FROM (
                    SELECT b, lo, hi, f_last, r_last, {side_merged("f")}, {side_merged("r")}, jac
                      FROM (
                        SELECT pair.*, t_f.*, t_r.*, {side_factors("f")}, {side_factors("r")},
                               COALESCE(f_t_jac, r_t_jac, 0::float8) AS jac
                          FROM pair
                          {stored("f", "pair.lo", "pair.hi")}
                          {stored("r", "pair.hi", "pair.lo")}
                        OFFSET 0
                      ) AS k
                     WHERE f_last IS NOT NULL OR r_last IS NOT NULL
                  ) AS n
                  LEFT JOIN LATERAL (
                        SELECT since FROM {FTAB}
                         WHERE customer_low_id = n.lo AND customer_high_id = n.hi
                           AND ended_at IS NULL
                         LIMIT 1) AS fr ON true
                OFFSET 0
              ) AS v
            OFFSET 0
          ) AS m
    ), written AS (
        INSERT INTO {TTAB} AS t (brand_id, source_id, target_id, last_event_at, {", ".join(cols)},
                                 strength, intensity, mutual_jaccard, strength_updated_at,
                                 created_at, updated_at)
        SELECT s.b, d.src, d.dst, d.last, {", ".join(f"d.{c}" for c in cols)},
               s.strength, s.intensity, s.jac, %(as_of)s, %(now)s, %(now)s
          FROM scored s
         CROSS JOIN LATERAL (VALUES (s.lo, s.hi, {f_cols}), (s.hi, s.lo, {r_cols}))
               AS d(src, dst, last, {", ".join(cols)})
         ORDER BY d.src, d.dst
        ON CONFLICT (source_id, target_id) DO UPDATE SET
            last_event_at = EXCLUDED.last_event_at, {sets},
            strength = EXCLUDED.strength, intensity = EXCLUDED.intensity,
            strength_updated_at = EXCLUDED.strength_updated_at,
            updated_at = EXCLUDED.updated_at
    )
    SELECT (SELECT count(*) FROM claim), (SELECT count(*) FROM pair)
    """  # noqa: S608


def _lock_timeout_ms() -> int:
    return int(settings.SCRM["SCORING_LOCK_TIMEOUT_MS"])


def partition_lock_key(brand_id: int) -> int:
    """First key of a brand's partition locks (``pg_advisory_xact_lock(int4, int4)``, a key
    space of its own: the second key is the partition)."""
    return brand_id & 0x7FFFFFFF


def ties_score_batch(
    *,
    interaction_ids: Sequence[int],
    fill_to: int = 0,
    as_of: datetime | None = None,
    params: TieParams | None = None,
) -> BatchResult:
    """Apply the pending interactions among ``interaction_ids`` to the ties; with
    ``fill_to`` > 0, also other pending interactions of the same brands, up to that many
    per partition (the task does; the sweeper and tests score exactly the ids they name).

    A brand's events are split into ``SCORING_PARTITIONS`` partitions by pair (the outbox
    row's ``pair_key`` = actor + target, the same for both directions): batches of two
    partitions never read or write the same tie rows, so they run at the same time. Each
    partition the ids fall into is one transaction (`_score_partition`). Partitions whose
    lock another batch holds are tried again after the free ones; once none is free, the
    call waits for the first one left (at most ``SCORING_LOCK_TIMEOUT_MS``, then the error
    is raised and the task retried; partitions already done stay committed). Ids no longer
    pending (a re-delivered batch) or unknown are ignored.

    Each brand is scored with its own parameters (`selectors.tie_params_by_brand`: the
    settings, or its fitted `TieModel`) unless ``params`` is given (then every brand).
    """
    ids = sorted({int(i) for i in interaction_ids})
    if not ids:
        return BatchResult(0, 0)
    parts = max(1, int(settings.SCRM["SCORING_PARTITIONS"]))
    todo = [(ids[0] + k) % parts for k in range(parts)]  # tasks start at different ones
    claimed = pairs = 0
    while todo:
        done = []
        for part in todo:
            result = _score_partition(ids, part, parts, fill_to, as_of, params, wait=False)
            if result is not None:
                done.append(part)
                claimed, pairs = claimed + result.claimed, pairs + result.pairs
        todo = [part for part in todo if part not in done]
        if todo and not done:
            result = _score_partition(ids, todo.pop(0), parts, fill_to, as_of, params, wait=True)
            claimed, pairs = claimed + result.claimed, pairs + result.pairs
    return BatchResult(claimed, pairs)


@transaction.atomic
def _score_partition(
    ids: list[int],
    part: int,
    parts: int,
    fill_to: int,
    as_of: datetime | None,
    params: TieParams | None,
    *,
    wait: bool,
) -> BatchResult | None:
    """One partition of a batch in one transaction of three round trips: settings and the
    brands of the pending ids in this partition; the brands' scoring locks — shared (a
    full recompute takes them exclusively) — and the partitions' locks, exclusive (one
    writer per brand and partition: batches queue up here and the next one takes whatever
    became pending meanwhile); then `_batch_sql`, one statement that claims (deletes from
    the outbox), aggregates, merges both directed rows of every touched pair and writes
    their strength/intensity with the brand's current κ. Without ``wait``, answers None at
    once if another batch holds a partition lock.

    The commit is asynchronous (``synchronous_commit = off``): if PostgreSQL crashes before
    the WAL reaches disk, the outbox delete is lost together with the tie update it belongs
    to (never one without the other), the rows are pending again and the sweeper applies
    them — a delay, never a loss or a double count.
    """
    now = timezone.now()
    as_of = as_of or now
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"""SELECT set_config('lock_timeout', %s, true),
                       set_config('synchronous_commit', 'off', true),
                       set_config('enable_bitmapscan', 'off', true),
                       array_agg(DISTINCT brand_id ORDER BY brand_id), count(*)
                  FROM {PTAB} WHERE interaction_id = ANY(%s::bigint[])
                   AND mod(pair_key, %s::bigint) = %s""",  # noqa: S608
            [f"{_lock_timeout_ms():d}ms", ids, parts, part],
            binary=True,
        )
        *_, brands, own = cursor.fetchone()
        if not brands:
            return BatchResult(0, 0)
        # Statements of their own: the batch statement's snapshot must be taken after the
        # locks are granted, so that it sees the commit of the batch before it.
        cursor.execute(
            "SELECT pg_advisory_xact_lock_shared(k) FROM unnest(%s::bigint[]) AS x(k) ORDER BY k",
            [[brand_lock_key(b) for b in brands]],
            binary=True,
        )
        keys = [partition_lock_key(b) for b in brands]
        if wait:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(k, %s::int) FROM unnest(%s::int[]) AS x(k) "
                "ORDER BY k",
                [part, keys],
                binary=True,
            )
        else:
            cursor.execute(
                "SELECT bool_and(pg_try_advisory_xact_lock(k, %s::int) ORDER BY k) "
                "FROM unnest(%s::int[]) AS x(k)",
                [part, keys],
                binary=True,
            )
            if not cursor.fetchone()[0]:
                return None
        claimed = pairs = 0
        # Brands scored with the same parameters share one statement (usually all of them).
        for group_params, group in params_groups(brands, params):
            cursor.execute(
                _batch_sql(group_params),
                {
                    "now": now,
                    "as_of": as_of,
                    "t0": as_of.timestamp(),
                    "ids": ids,
                    "brands": group,
                    "part": part,
                    "parts": parts,
                    "fill": max(0, int(fill_to) - own),
                },
                binary=True,
                prepare=True,  # planning the statement costs ~10 ms; its plan shape is fixed
            )
            group_claimed, group_pairs = cursor.fetchone()
            claimed, pairs = claimed + group_claimed, pairs + group_pairs
    return BatchResult(claimed, pairs)


def params_groups(
    brands: Sequence[int], params: TieParams | None = None
) -> list[tuple[TieParams, list[int]]]:
    """The brands grouped by the parameters they are scored with (``params`` for all when
    given, else each brand's own: `selectors.tie_params_by_brand`), in brand order."""
    from .selectors import tie_params_by_brand

    if params is not None:
        return [(params, sorted(brands))]
    groups: dict[tuple, tuple[TieParams, list[int]]] = {}
    for brand_id, brand_params in sorted(tie_params_by_brand(brand_ids=list(brands)).items()):
        groups.setdefault(brand_params.key(), (brand_params, []))[1].append(brand_id)
    return list(groups.values())


def ties_score_unscored(
    *, older_than: timedelta | None = None, batch_size: int | None = None, max_batches: int = 100
) -> int:
    """Sweeper: score interactions left pending longer than ``older_than`` (a lost task or a
    killed worker), in batches of ``batch_size`` ids; returns how many were scored."""
    if older_than is None:
        older_than = timedelta(minutes=settings.SCRM["SCORING_SWEEP_AFTER_MINUTES"])
    batch_size = batch_size or settings.SCRM["SCORING_BATCH_MAX"]
    cutoff = timezone.now() - older_than
    scored = 0
    after = 0
    for _ in range(max_batches):
        with connection.cursor() as cursor:
            cursor.execute(
                f"""SELECT interaction_id FROM {PTAB}
                     WHERE created_at < %s AND interaction_id > %s
                     ORDER BY interaction_id LIMIT %s""",  # noqa: S608
                [cutoff, after, batch_size],
            )
            ids = [row[0] for row in cursor.fetchall()]
        if not ids:
            break
        scored += ties_score_batch(interaction_ids=ids).claimed
        after = ids[-1]
    if scored:
        logger.warning("scoring sweeper applied %s interactions left unscored", scored)
    return scored


# --- κ -------------------------------------------------------------------------------------


def pair_intensities_sql(params: TieParams) -> str:
    """Undirected I of every pair of brand %(brand)s with state, as of %(as_of)s."""
    a_lh = value_at_sql("f.affinity", "f.last_event_at", "%(as_of)s", params)
    a_hl = value_at_sql("r.affinity", "r.last_event_at", "%(as_of)s", params)
    return f"""
        SELECT f.source_id AS lo, f.target_id AS hi, {intensity_sql(a_lh, a_hl, params)} AS i
          FROM {TTAB} f
          LEFT JOIN {TTAB} r ON r.source_id = f.target_id AND r.target_id = f.source_id
         WHERE f.brand_id = %(brand)s AND f.source_id < f.target_id
    """  # noqa: S608


def tie_stats_upsert_sql() -> str:
    return f"""
        INSERT INTO {STAB} AS s (brand_id, kappa, active_pairs, computed_at,
                                 last_recompute_at, last_recompute_seconds)
        VALUES (%(brand)s, %(kappa)s, %(active)s, %(as_of)s, %(rec_at)s, %(rec_s)s)
        ON CONFLICT (brand_id) DO UPDATE SET
            kappa = EXCLUDED.kappa, active_pairs = EXCLUDED.active_pairs,
            computed_at = EXCLUDED.computed_at,
            last_recompute_at = COALESCE(EXCLUDED.last_recompute_at, s.last_recompute_at),
            last_recompute_seconds = COALESCE(EXCLUDED.last_recompute_seconds,
                                              s.last_recompute_seconds)
    """  # noqa: S608


@transaction.atomic
def tie_stats_refresh_kappa(
    *, brand_id: int, as_of: datetime | None = None, params: TieParams | None = None
) -> float:
    """κ = percentile of I over the brand's active ties as of now (`scoring.kappa_from`:
    I > ``ACTIVE_INTENSITY_MIN``), with the brand's parameters unless ``params``."""
    from .selectors import tie_params_for_brand

    params = params or tie_params_for_brand(brand_id=brand_id)
    as_of = as_of or timezone.now()
    args = {"brand": brand_id, "as_of": as_of}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT percentile_cont(%(q)s) WITHIN GROUP (ORDER BY i), count(*)
                  FROM ({pair_intensities_sql(params)}) AS x
                 WHERE i > {_f(ACTIVE_INTENSITY_MIN)}""",  # noqa: S608
            {**args, "q": params.kappa_percentile / 100.0},
        )
        value, active = cursor.fetchone()
        kappa = params.kappa_default if value is None else max(value, params.kappa_min)
        cursor.execute(
            tie_stats_upsert_sql(),
            {**args, "kappa": kappa, "active": active, "rec_at": None, "rec_s": None},
        )
    return kappa
