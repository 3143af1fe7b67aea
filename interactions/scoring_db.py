"""Tie scoring in PostgreSQL: the incremental worker's service and the SQL it shares with the
full recompute (`interactions.recompute`). The math is `interactions.scoring`; this module
only mirrors it in set-based SQL (float8).

Concurrency: every scoring transaction takes an exclusive PostgreSQL advisory lock per
brand (in brand order), the incremental batches as well as the full recompute: one writer
of a brand's tie scores at a time. A batch reads the current tie rows and writes their new
state in one statement, which is exact only because nothing else writes those scores
meanwhile; batches of one brand queue up on the lock, and the next one takes everything that
became pending in the meantime (bigger batches under load, never many small ones fighting
over the same rows). A batch waits at most ``SCORING_LOCK_TIMEOUT_MS`` and is then retried
by Celery; events it leaves unscored are picked up by the sweeper (`ties_score_unscored`).
Ingest writes only the negative-signal flag columns of tie rows, which scoring never sets.
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

from customers.models import Friendship

from .models import Interaction, ScoringPending, Tie, TieStats
from .scoring import LIKE, NEGATIVE_SIGNALS, UNLIKE, TieParams

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


def weight_case(type_col: str, params: TieParams) -> str:
    """``CASE`` giving w(type); −w(like) for unlike (scoring.TieParams.weight)."""
    whens = " ".join(
        f"WHEN '{name}' THEN {_f(params.weight(name))}" for name in weighted_types(params)
    )
    return f"(CASE {type_col} {whens} ELSE 0::float8 END)"


def dated_case(type_col: str, occurred_col: str, cancels_col: str) -> str:
    """The time a contribution is dated at: an unlike at the like it takes back."""
    return f"(CASE WHEN {type_col} = '{UNLIKE}' THEN {cancels_col} ELSE {occurred_col} END)"


def component_of(type_col: str) -> str:
    return f"(CASE WHEN {type_col} = '{UNLIKE}' THEN '{LIKE}' ELSE {type_col}::text END)"


MIN_DECAY_EXPONENT = -700.0  # half-lives; PostgreSQL raises on float underflow, Python not


def decay_sql(seconds_sql: str, params: TieParams) -> str:
    """2^(−Δ/H) for Δ seconds (float8). Gaps beyond 700 half-lives (27 years at H = 14 d)
    count as 700: the factor (~1e-211) is zero for every purpose but cannot underflow."""
    exponent = f"-({seconds_sql}) / {_f(params.half_life_seconds)}"
    return f"power(2::float8, GREATEST({exponent}, {MIN_DECAY_EXPONENT!r}::float8))"


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
    """scoring.strength in SQL; ``kappa`` is clamped to ``kappa_min`` here."""
    kap = f"GREATEST({kappa}, {_f(p.kappa_min)})"
    # exp() arguments are capped at 700 (e^−700 ≈ 1e-304): PostgreSQL raises on underflow.
    i_arg = f"LEAST(GREATEST({intensity}, 0::float8) / {kap}, 700::float8)"
    d_arg = f"LEAST(GREATEST({friend_days}, 0::float8) / {_f(p.duration_scale_days)}, 700::float8)"
    i_term = f"{_f(p.w_intensity)} * (1 - exp(-{i_arg}))"
    d_term = f"{_f(p.w_duration)} * (1 - exp(-{d_arg}))"
    m_term = f"{_f(p.w_mutual)} * LEAST(GREATEST({jaccard}, 0::float8), 1::float8)"
    return f"LEAST(GREATEST({i_term} + {d_term} + {m_term}, 0::float8), 1::float8)"


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


@transaction.atomic
def scoring_pending_add(*, brand_id: int, interaction_ids: Sequence[int], at: datetime) -> int:
    """Record new interactions in the scoring outbox (the caller's transaction, one INSERT)."""
    if not interaction_ids:
        return 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"""INSERT INTO {PTAB} (interaction_id, brand_id, created_at)
                SELECT i, %s, %s FROM unnest(%s::bigint[]) AS x(i) ORDER BY i""",  # noqa: S608
            [brand_id, at, list(interaction_ids)],
        )
        return cursor.rowcount


def _batch_sql(params: TieParams) -> str:
    """The whole batch in one statement: claim it in the outbox, aggregate per directed pair,
    merge into both directed rows of every touched pair and refresh their strength.

    Runs under the exclusive scoring lock of its brands (taken by the statement before), so
    the tie rows it reads are the latest state and no other batch writes them until this
    transaction ends: the new state of both directions is computed from that read and
    written once, with strength and intensity, by one upsert (one row version per tie).

    The claim deletes the outbox rows of the task's ids plus the brand's oldest pending rows,
    up to %(fill)s (under load one task applies everything that became pending while the
    batch before it held the lock; tasks that find their ids gone do nothing). No other
    transaction claims a brand's rows while its lock is held, so none are skipped or waited
    for.

    Per pair the batch is summed referenced to its own latest dated time ``b_last``; the
    stored state (S, last) and the batch (B, b_last) merge as
    ``S·2^(−(new_last − last)/H) + B·2^(−(new_last − b_last)/H)``, new_last = GREATEST —
    the in-order and the out-of-order rule of `scoring.apply` at once. Strength is written
    for pairs with interaction state (flag-only rows keep 0), as in the recompute; a pair
    touched by an unfriend only (the friendship-duration term changed) is refreshed if it
    has state. Answers one row: events claimed, undirected pairs touched.
    """
    cols = ("affinity", *(f"c_{name}" for name in COMPONENTS))
    agg_comps = ",\n".join(
        f"COALESCE(sum(x) FILTER (WHERE comp = '{name}'), 0::float8) AS c_{name}"
        for name in COMPONENTS
    )
    new_last = "GREATEST(t.last_event_at, a.last)"
    f_old = f"COALESCE({decay_sql(seconds_between(new_last, 't.last_event_at'), params)}, 1)"
    f_new = f"COALESCE({decay_sql(seconds_between(new_last, 'a.last'), params)}, 1)"
    merged = ",\n".join(
        f"COALESCE(t.{c}, 0::float8) * {f_old} + COALESCE(a.{c}, 0::float8) * {f_new} AS {c}"
        for c in cols
    )
    a_lh = value_at_sql("f.affinity", "f.last", "%(as_of)s", params)
    a_hl = value_at_sql("r.affinity", "r.last", "%(as_of)s", params)
    days = f"COALESCE({seconds_between('%(as_of)s', 'fr.since')} / 86400.0, 0::float8)"
    strength = strength_sql(
        "u.intensity", "u.days", "u.jac", f"COALESCE(st.kappa, {_f(params.kappa_default)})", params
    )
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in cols)
    return f"""
    WITH claim AS MATERIALIZED (
        DELETE FROM {PTAB} p
         WHERE p.brand_id = ANY(%(brands)s::bigint[])
           AND p.interaction_id IN (
                SELECT x FROM unnest(%(ids)s::bigint[]) AS x
                UNION ALL
                (SELECT interaction_id FROM {PTAB}
                  WHERE brand_id = ANY(%(brands)s::bigint[])
                  ORDER BY brand_id, interaction_id
                  LIMIT %(fill)s))
        RETURNING p.interaction_id
    ), ev AS MATERIALIZED (
        SELECT i.brand_id AS b, i.actor_id AS s, i.target_id AS g, i.type, i.occurred_at,
               i.cancels_at
          FROM claim JOIN {ITAB} i ON i.id = claim.interaction_id
    ), contrib AS (
        SELECT b, s, g, {component_of("type")} AS comp, {weight_case("type", params)} AS w,
               {dated_case("type", "occurred_at", "cancels_at")} AS dated
          FROM ev
         WHERE type = ANY(%(weighted)s::text[])
           AND (type <> '{UNLIKE}' OR cancels_at IS NOT NULL)
    ), ref AS (
        SELECT b, s, g, comp, w, dated, max(dated) OVER (PARTITION BY b, s, g) AS last
          FROM contrib
    ), agg AS MATERIALIZED (
        SELECT b, s, g, last, sum(x) AS affinity,
               {agg_comps}
          FROM (SELECT b, s, g, last, comp,
                       w * {decay_sql(seconds_between("last", "dated"), params)} AS x
                  FROM ref) AS y
         GROUP BY b, s, g, last
    ), pairs AS MATERIALIZED (
        SELECT b, LEAST(s, g) AS lo, GREATEST(s, g) AS hi FROM agg
        UNION
        SELECT b, LEAST(s, g), GREATEST(s, g) FROM ev WHERE type = 'unfriend'
    ), nxt AS MATERIALIZED (
        SELECT d.b, d.s, d.g, d.lo, d.hi, {new_last} AS last,
               {merged},
               t.mutual_jaccard AS jac
          FROM (SELECT b, lo AS s, hi AS g, lo, hi FROM pairs
                UNION ALL
                SELECT b, hi, lo, lo, hi FROM pairs) AS d
          LEFT JOIN {TTAB} t ON t.source_id = d.s AND t.target_id = d.g
          LEFT JOIN agg a ON a.s = d.s AND a.g = d.g AND a.b = d.b
    ), u AS (
        SELECT f.b, f.lo, f.hi, {intensity_sql(a_lh, a_hl, params)} AS intensity,
               {days} AS days, COALESCE(f.jac, r.jac, 0::float8) AS jac
          FROM nxt f
          JOIN nxt r ON r.s = f.g AND r.g = f.s
          LEFT JOIN {FTAB} fr ON fr.customer_low_id = f.lo AND fr.customer_high_id = f.hi
                             AND fr.ended_at IS NULL
         WHERE f.s = f.lo AND (f.last IS NOT NULL OR r.last IS NOT NULL)
    ), scored AS (
        SELECT u.b, u.lo, u.hi, u.intensity, {strength} AS strength
          FROM u LEFT JOIN {STAB} st ON st.brand_id = u.b
    ), written AS (
        INSERT INTO {TTAB} AS t (brand_id, source_id, target_id, last_event_at, {", ".join(cols)},
                                 strength, intensity, strength_updated_at, created_at,
                                 updated_at)
        SELECT n.b, n.s, n.g, n.last, {", ".join(f"n.{c}" for c in cols)},
               sc.strength, sc.intensity, %(as_of)s, %(now)s, %(now)s
          FROM nxt n JOIN scored sc ON sc.lo = n.lo AND sc.hi = n.hi
         ORDER BY n.s, n.g
        ON CONFLICT (source_id, target_id) DO UPDATE SET
            last_event_at = EXCLUDED.last_event_at, {sets},
            strength = EXCLUDED.strength, intensity = EXCLUDED.intensity,
            strength_updated_at = EXCLUDED.strength_updated_at,
            updated_at = EXCLUDED.updated_at
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM claim), (SELECT count(*) FROM pairs),
           (SELECT count(*) FROM written)
    """  # noqa: S608


def _lock_timeout_ms() -> int:
    return int(settings.SCRM["SCORING_LOCK_TIMEOUT_MS"])


@transaction.atomic
def ties_score_batch(
    *,
    interaction_ids: Sequence[int],
    fill_to: int = 0,
    as_of: datetime | None = None,
    params: TieParams | None = None,
) -> BatchResult:
    """Apply the pending interactions among ``interaction_ids`` to the ties; with
    ``fill_to`` > 0, also other pending interactions of the same brands, up to that many in
    all (the task does; the sweeper and tests score exactly the ids they name).

    One transaction of three round trips: settings and the batch's brands; the brands'
    exclusive scoring locks (one writer per brand: batches of a brand queue up here and the
    next one takes whatever became pending meanwhile); then `_batch_sql`, one statement that
    claims (deletes from the outbox), aggregates, merges both directed rows of every touched
    pair and writes their strength/intensity with the brand's current κ. Ids no longer
    pending (a re-delivered batch) or unknown are ignored.

    The commit is asynchronous (``synchronous_commit = off``): if PostgreSQL crashes before
    the WAL reaches disk, the outbox delete is lost together with the tie update it belongs
    to (never one without the other), the rows are pending again and the sweeper applies
    them — a delay, never a loss or a double count.
    """
    params = params or TieParams.from_settings()
    now = timezone.now()
    as_of = as_of or now
    ids = sorted({int(i) for i in interaction_ids})
    if not ids:
        return BatchResult(0, 0)
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(
            f"""SELECT set_config('lock_timeout', %s, true),
                       set_config('synchronous_commit', 'off', true),
                       (SELECT array_agg(b ORDER BY b) FROM (
                            SELECT DISTINCT brand_id AS b FROM {PTAB}
                             WHERE interaction_id = ANY(%s::bigint[])) AS x)""",  # noqa: S608
            [f"{_lock_timeout_ms():d}ms", ids],
            binary=True,
        )
        brands = cursor.fetchone()[2] or []
        if not brands:
            return BatchResult(0, 0)
        # A statement of its own: the batch statement's snapshot must be taken after the
        # lock is granted, so that it sees the commit of the batch before it.
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS x(k) ORDER BY k",
            [[brand_lock_key(b) for b in brands]],
            binary=True,
        )
        cursor.execute(
            _batch_sql(params),
            {
                "now": now,
                "as_of": as_of,
                "ids": ids,
                "brands": brands,
                "fill": max(0, int(fill_to) - len(ids)),
                "weighted": weighted_types(params),
            },
            binary=True,
        )
        claimed, pairs, _rows = cursor.fetchone()
    return BatchResult(claimed, pairs)


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
    """κ = percentile of I over the brand's active ties (I > 0) as of now (scoring.kappa_from)."""
    params = params or TieParams.from_settings()
    as_of = as_of or timezone.now()
    args = {"brand": brand_id, "as_of": as_of}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT percentile_cont(%(q)s) WITHIN GROUP (ORDER BY i), count(*)
                  FROM ({pair_intensities_sql(params)}) AS x WHERE i > 0""",  # noqa: S608
            {**args, "q": params.kappa_percentile / 100.0},
        )
        value, active = cursor.fetchone()
        kappa = params.kappa_default if value is None else max(value, params.kappa_min)
        cursor.execute(
            tie_stats_upsert_sql(),
            {**args, "kappa": kappa, "active": active, "rec_at": None, "rec_s": None},
        )
    return kappa
