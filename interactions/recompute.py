"""Full recompute of a brand's ties from the whole interaction log, in set-based SQL.

One transaction per brand (readers keep seeing the previous state until it commits — MVCC,
no table swap), holding the brand's exclusive scoring lock so no incremental batch
interleaves. Intermediate results go into unlogged work tables of the transaction
(`WorkTables`), which PostgreSQL's parallel workers can read:

1. claim: mark the brand's unscored interactions scored (events committed later stay
   unscored and reach the ties through the worker, on top of the rebuilt state);
2. pairs: one aggregate pass over the log builds every directed pair's affinity,
   components and last dated time (the type's weight and component from a lookup join, one
   sum per component). Each term is w·2^(−(T0 − t)/H) with T0 = the as-of time, summed per
   pair and rescaled once by 2^((T0 − t_ref)/H): the closed form referenced to the pair's
   own latest time (`scoring.from_events`) without a second pass over the log;
3. undirected pairs: both directions side by side, intensity as of now, prune test (both
   directions idle ≥ PRUNE_IDLE_DAYS and below PRUNE_MIN_AFFINITY);
4. κ = percentile_cont of I over the kept pairs that are active ties
   (I > ``scoring.ACTIVE_INTENSITY_MIN``, as `scoring.kappa_from`);
5. mutual friends: each kept pair's Jaccard in the statement of step 2, by intersecting the
   two customers' sorted friend arrays (intarray; the arrays are built before the pass);
   an adjacency join and a table of Jaccard values of its own when ids do not fit int4;
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
from django.db import OperationalError, connection, transaction
from django.utils import timezone
from psycopg import errors

from customers.models import Customer, profiling_granted_sql

from .scoring import ACTIVE_INTENSITY_MIN, LIKE, UNLIKE, TieParams
from .scoring_db import (
    COMPONENTS,
    FLAG_COLUMNS,
    FTAB,
    ITAB,
    PTAB,
    TTAB,
    _f,
    intensity_sql,
    lock_brand_exclusive,
    params_groups,
    referenced_sql,
    rescale_sql,
    seconds_between,
    strength_sql,
    tie_stats_upsert_sql,
    type_lookup_sql,
    value_at_sql,
    weighted_types,
)
from .selectors import tie_params_for_brand

Progress = Callable[[str, float, int], None]

# intarray's arrays hold int4: customer ids are stored as id − (smallest customer id).
INT4_SPAN = 2**31 - 1


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


@dataclass(frozen=True)
class WorkTables:
    """The recompute's intermediate tables. Unlogged tables, created and dropped inside the
    recompute's transaction (never visible to another one; gone with it on a rollback), named
    after the backend so that recomputes of different brands can run at once. Not temporary
    tables: PostgreSQL's parallel workers cannot read those, and the mutual-friend join, the
    biggest join of the recompute, runs about 1.7× faster on parallel workers."""

    pair: str
    kappa: str
    adj: str
    deg: str
    mutual: str
    # Subtracted from every customer id in the friend arrays (intarray holds int4); None when
    # the ids span more than int4 holds: the mutual friends then come from the adjacency join.
    id_base: int | None = 0

    @classmethod
    def of_backend(cls, cursor, group: int = 0) -> WorkTables:
        """The tables of this backend (``group``: of its n-th group of brands scored with
        the same parameters, in an all-brands recompute)."""
        cursor.execute(
            f"SELECT pg_backend_pid(), min(id), max(id) FROM {Customer._meta.db_table}"  # noqa: S608
        )
        pid, low, high = cursor.fetchone()
        tag = f"{pid}g{group}" if group else f"{pid}"
        names = (f"_rc{tag}_{name}" for name in ("pair", "kappa", "adj", "deg", "mutual"))
        id_base = None if low is not None and high - low > INT4_SPAN else (low or 0)
        return cls(*names, id_base=id_base)

    @property
    def by_arrays(self) -> bool:
        """Mutual friends by intersecting friend arrays (else by the adjacency join)."""
        return self.id_base is not None

    @property
    def all(self) -> str:
        return ", ".join((self.pair, self.kappa, self.adj, self.deg, self.mutual))


def directed_pairs_sql(params: TieParams) -> tuple[str, list[str]]:
    """The recompute's one pass over the log of the brands %(brands)s: a row per directed
    pair ``(b, s, g)`` with its latest dated time ``last`` and one sum per component
    (``s_c_*``), each event's term w·2^((t − T0)/H) referenced to the as-of time T0; and
    the sums whose total is the affinity. Events still pending in the outbox are skipped."""
    dated = "(CASE WHEN k.unlike THEN i.cancels_at ELSE i.occurred_at END)"
    term = f"k.w * {referenced_sql(dated, params)}"
    # The term is evaluated once per event: only the matching FILTER passes. Weighted types
    # without a component column (view, weight 0 by default) add a sum of their own only
    # when they weigh.
    sums = [
        f"sum({term}) FILTER (WHERE k.comp = {index}) AS s_c_{name}"
        for index, name in enumerate(COMPONENTS)
    ]
    parts = [f"s_c_{name}" for name in COMPONENTS]
    if any(
        params.weight(name) != 0
        for name in weighted_types(params)
        if (LIKE if name == UNLIKE else name) not in COMPONENTS
    ):
        sums.append(f"sum({term}) FILTER (WHERE k.comp IS NULL) AS s_other")
        parts.append("s_other")
    sql = f"""SELECT i.brand_id AS b, i.actor_id AS s, i.target_id AS g,
                     max({dated}) AS last, {", ".join(sums)}
                FROM {ITAB} i
                JOIN {type_lookup_sql(params, "k")} ON k.type = i.type
               WHERE i.brand_id = ANY(%(brands)s::bigint[])
                 AND (NOT k.unlike OR i.cancels_at IS NOT NULL)
                 AND NOT EXISTS (SELECT 1 FROM {PTAB} q WHERE q.interaction_id = i.id)
               GROUP BY 1, 2, 3"""  # noqa: S608
    from privacy.retention import with_folded  # raw events folded by the retention policy

    # Pairs of a person who withheld profiling are left out once per directed pair, not per
    # event: two hash anti joins with the few who withheld (a probe of the customer table
    # per event was two thirds of this pass).
    granted = f"""SELECT * FROM ({with_folded(sql, parts, params)}) AS d
                   WHERE {profiling_granted_sql("d.s")} AND {profiling_granted_sql("d.g")}"""  # noqa: S608
    return granted, parts


def _pair_steps_sql(params: TieParams, t: WorkTables) -> tuple[list[tuple[str, str]], str]:
    """Claim, pairs, κ and mutual friends for the brands %(brands)s, into ``t.pair``: one row
    per kept undirected pair (lo < hi) with both directions' state (``f_*``: lo → hi,
    ``r_*``: hi → lo), intensity, friendship days, Jaccard and strength; the mutual
    friends by intersecting sorted friend arrays (`_neighbours_sql`) or, when the customer
    ids do not fit them, by the adjacency join (`_mutual_by_join_sql`)."""
    cols = ["affinity", *(f"c_{name}" for name in COMPONENTS)]
    # Per directed pair, the sums referenced to T0 are rescaled once to its latest time.
    directed, parts = directed_pairs_sql(params)
    affinity = " + ".join(f"COALESCE({part}, 0::float8)" for part in parts)
    scaled = ", ".join(
        [f"({affinity}) * sc AS affinity"]
        + [f"COALESCE(s_c_{name}, 0::float8) * sc AS c_{name}" for name in COMPONENTS]
    )

    def side(prefix: str, cond: str) -> str:
        return ", ".join(f"max({c}) FILTER (WHERE {cond}) AS {prefix}_{c}" for c in ["last", *cols])

    state_cols = ", ".join(f"v.{d}_{c}" for d in ("f", "r") for c in ["last", *cols])
    a_f = value_at_sql("f_affinity", "f_last", "%(as_of)s", params)
    a_r = value_at_sql("r_affinity", "r_last", "%(as_of)s", params)
    idle = f"make_interval(secs => {_f(params.prune_idle_days * 86400.0)})"
    floor = _f(params.prune_min_affinity)

    def prunable(prefix: str) -> str:
        """scoring.should_prune of one direction (no state counts as prunable)."""
        last = f"v.{prefix}_last"
        return f"({last} IS NULL OR ({last} <= %(as_of)s - {idle} AND v.{prefix}_a < {floor}))"

    days = f"COALESCE({seconds_between('%(as_of)s', 'fr.since')} / 86400.0, 0::float8)"
    strength = strength_sql(
        "p.intensity", "p.days", "p.jac" if t.by_arrays else "j.jac", "k.kappa", params
    )
    kept = f"""SELECT v.b, v.lo, v.hi, {state_cols},
                       {intensity_sql("v.f_a", "v.r_a", params)} AS intensity, {days} AS days,
                       fr.customer_low_id IS NOT NULL AS friends
                  FROM valued v
                  LEFT JOIN {FTAB} fr
                    ON fr.customer_low_id = v.lo AND fr.customer_high_id = v.hi
                   AND fr.ended_at IS NULL
                 WHERE NOT ({prunable("f")} AND {prunable("r")})"""  # noqa: S608
    if t.by_arrays:
        # Each kept pair's Jaccard from the two friend arrays, in the same statement.
        degrees = ("cardinality(x.f)", "cardinality(y.f)")
        kept = f"""SELECT q.*, {_jaccard_sql("m.mutual", "q.friends::int", *degrees)} AS jac
                     FROM ({kept} OFFSET 0) AS q
                     LEFT JOIN {t.adj} x ON x.u = q.lo
                     LEFT JOIN {t.adj} y ON y.u = q.hi
                    CROSS JOIN LATERAL (SELECT cardinality(x.f & y.f) AS mutual) AS m"""  # noqa: S608
    return [
        ("setup", f"DROP TABLE IF EXISTS {t.all}"),
        (
            # Events committed later stay pending and reach the ties through the worker,
            # on top of the rebuilt state: the pass below skips whatever is still pending.
            "claim",
            f"DELETE FROM {PTAB} WHERE brand_id = ANY(%(brands)s::bigint[])",  # noqa: S608
        ),
        # Hash joins only from here to the mutual friends. The pass over the log skips events
        # that became pending after the claim (usually none): as a nested loop that is a scan
        # of the outbox per event (0.3 s per 1M events with an empty outbox, quadratic with a
        # full one), as a hash anti join one hash of the outbox. Around hubs a nested loop
        # over the friend tables is quadratic too.
        ("hash joins", "SELECT set_config('enable_nestloop', 'off', true)"),
        *(_neighbours_sql(t) if t.by_arrays else []),
        (
            # One pass over the log grouped by directed pair (the type's weight and component
            # from a lookup join), then both directions of each undirected pair side by side
            # (f: lo → hi, r: hi → lo). PostgreSQL evaluates an expression once per reference
            # (subqueries are pulled up into their parent), so each per-pair stage is fenced
            # (OFFSET 0) and every decay factor is computed once.
            "pairs",
            f"""CREATE UNLOGGED TABLE {t.pair} AS
                WITH directed AS (
                    {directed}
                ), state AS (
                    SELECT b, s, g, last, {scaled}
                      FROM (SELECT directed.*, {rescale_sql("last", params)} AS sc
                              FROM directed OFFSET 0) AS x
                     OFFSET 0
                ), pairs AS (
                    -- Grouped (so sorted) by lo first: the sort compares on its first key
                    -- alone for nearly every row, and the brand, first, never told rows
                    -- apart (1.5M directed pairs: 2.1 s → 0.7 s of sorting).
                    SELECT b, LEAST(s, g) AS lo, GREATEST(s, g) AS hi,
                           {side("f", "s < g")}, {side("r", "s > g")}
                      FROM state GROUP BY 2, 3, 1
                ), valued AS (
                    SELECT pairs.*, {a_f} AS f_a, {a_r} AS r_a FROM pairs OFFSET 0
                )
                {kept}""",  # noqa: S608
        ),
        (
            "kappa",
            f"""CREATE UNLOGGED TABLE {t.kappa} AS
                SELECT b.b, CASE WHEN x.q IS NULL THEN {_f(params.kappa_default)}
                            ELSE GREATEST(x.q, {_f(params.kappa_min)}) END AS kappa,
                       COALESCE(x.n, 0) AS active
                  FROM unnest(%(brands)s::bigint[]) AS b(b)
                  LEFT JOIN (
                    SELECT b, percentile_cont(%(q)s) WITHIN GROUP (ORDER BY intensity) AS q,
                           count(*) AS n
                      FROM {t.pair}
                     WHERE intensity > {_f(ACTIVE_INTENSITY_MIN)} GROUP BY b
                  ) AS x USING (b)""",  # noqa: S608
        ),
        *([("analyze", f"ANALYZE {t.pair} (lo, hi)")] if t.by_arrays else _mutual_by_join_sql(t)),
        ("nested loops again", "SELECT set_config('enable_nestloop', 'on', true)"),
    ], strength


def _mutual_by_join_sql(t: WorkTables) -> list[tuple[str, str]]:
    """|N(u) ∩ N(v)| for every kept pair by joining the adjacency to itself: the endpoint
    with fewer friends is expanded and the other's adjacency probed (cost Σ min(deg), safe
    around hubs). Used when customer ids span more than ``int4`` (see `INT4_SPAN`)."""
    return [
        # The inputs are work tables analyzed first: with their real sizes the planner
        # hashes the small adjacency and probes it with the expanded pairs. Nested loops stay
        # off for that statement all the same: a fresh brand's tables may have no
        # statistics, and a nested loop around hubs is quadratic (minutes for 33k
        # friendships).
        (
            "adjacency",
            f"""CREATE UNLOGGED TABLE {t.adj} AS
                SELECT customer_low_id AS u, customer_high_id AS w FROM {FTAB}
                 WHERE brand_id = ANY(%(brands)s::bigint[]) AND ended_at IS NULL
                UNION ALL
                SELECT customer_high_id, customer_low_id FROM {FTAB}
                 WHERE brand_id = ANY(%(brands)s::bigint[]) AND ended_at IS NULL;
                CREATE UNLOGGED TABLE {t.deg} AS
                SELECT u, count(*) AS d FROM {t.adj} GROUP BY u""",  # noqa: S608
        ),
        ("analyze", f"ANALYZE {t.pair} (lo, hi), {t.adj}, {t.deg}"),
        (
            # The Jaccard of each pair with a mutual friend goes into a table of its own
            # (pairs without one have 0), read once by the write.
            "mutual",
            f"""CREATE UNLOGGED TABLE {t.mutual} AS
                SELECT lo, hi, {_jaccard_sql("mutual", "fr", "dl", "dh")} AS jac
                  FROM (
                    SELECT p.lo, p.hi, p.dl, p.dh, p.fr, count(*) AS mutual
                      FROM (
                        SELECT p.lo, p.hi, dl.d AS dl, dh.d AS dh, p.friends::int AS fr,
                               CASE WHEN dl.d <= dh.d THEN p.lo ELSE p.hi END AS small,
                               CASE WHEN dl.d <= dh.d THEN p.hi ELSE p.lo END AS big
                          FROM {t.pair} p
                          JOIN {t.deg} dl ON dl.u = p.lo
                          JOIN {t.deg} dh ON dh.u = p.hi
                      ) AS p
                      JOIN {t.adj} x ON x.u = p.small
                      JOIN {t.adj} y ON y.u = p.big AND y.w = x.w
                     GROUP BY p.lo, p.hi, p.dl, p.dh, p.fr
                  ) AS m""",  # noqa: S608
        ),
        # The write hashes the smaller of the pair and Jaccard tables (with no statistics
        # the planner hashed the wide pair table: 2.6 s of a 13 s build for 942k pairs).
        ("analyze mutual", f"ANALYZE {t.mutual}"),
    ]


def _neighbours_sql(t: WorkTables) -> list[tuple[str, str]]:
    """Every customer's friends as one sorted ``int4`` array (ids offset by ``t.id_base``),
    into ``t.adj``, for the pairs step to intersect (intarray's ``&``, a merge in C: cost
    Σ (deg(u) + deg(v)) array elements and no row per probe; the Jaccard of the adjacency
    join, `_mutual_by_join_sql`, for every pair, 4.1 s → 1.1 s for 942k pairs)."""
    return [
        (
            "neighbours",
            f"""CREATE UNLOGGED TABLE {t.adj} AS
                SELECT u, array_agg((w - {int(t.id_base or 0)})::int4 ORDER BY w) AS f
                  FROM (
                    SELECT customer_low_id AS u, customer_high_id AS w FROM {FTAB}
                     WHERE brand_id = ANY(%(brands)s::bigint[]) AND ended_at IS NULL
                    UNION ALL
                    SELECT customer_high_id, customer_low_id FROM {FTAB}
                     WHERE brand_id = ANY(%(brands)s::bigint[]) AND ended_at IS NULL
                  ) AS edges
                 GROUP BY u""",  # noqa: S608
        ),
        ("analyze neighbours", f"ANALYZE {t.adj}"),
    ]


def _jaccard_sql(mutual: str, friends: str, low_degree: str, high_degree: str) -> str:
    """Jaccard of a pair from its mutual friend count and both endpoints' friend counts
    (each counting the other endpoint when ``friends`` is 1): 0 without a mutual friend."""
    union = f"({low_degree} - {friends}) + ({high_degree} - {friends}) - {mutual}"
    return f"COALESCE({mutual}::float8 / NULLIF({union}, 0), 0::float8)"


def _rows_sql(strength: str, t: WorkTables) -> str:
    """Both directed rows of every kept pair, from ``t.pair p`` and ``t.kappa k``: each pair
    joined to a two-row constant (``d.fwd``), each column picked by direction. A ``LATERAL
    (VALUES …)`` of the two rows is re-evaluated per pair (the build of 1.9M rows took 5.0 s
    that way against 3.6 s)."""

    def pick(column: str, zero: bool = True) -> str:
        picked = f"CASE WHEN d.fwd THEN p.f_{column} ELSE p.r_{column} END"
        return f"COALESCE({picked}, 0::float8)" if zero else picked

    columns = ", ".join(
        [pick("last", zero=False), pick("affinity"), *(pick(f"c_{n}") for n in COMPONENTS)]
    )
    if t.by_arrays:  # the pair's Jaccard is in its row
        scored = f"""SELECT p.*, {strength} AS strength
                       FROM {t.pair} p JOIN {t.kappa} k ON k.b = p.b"""  # noqa: S608
    else:
        scored = f"""SELECT p.*, j.jac, {strength} AS strength
                       FROM {t.pair} p
                       JOIN {t.kappa} k ON k.b = p.b
                       LEFT JOIN {t.mutual} mu ON mu.lo = p.lo AND mu.hi = p.hi
                      CROSS JOIN LATERAL (SELECT COALESCE(mu.jac, 0::float8) AS jac) AS j"""  # noqa: S608
    return f"""
        SELECT p.b, CASE WHEN d.fwd THEN p.lo ELSE p.hi END,
               CASE WHEN d.fwd THEN p.hi ELSE p.lo END, {columns},
               p.strength, p.intensity, p.jac, %(as_of)s, %(now)s, %(now)s
          FROM (
            -- Fenced: strength is computed once per pair, not once per directed row.
            {scored}
            OFFSET 0
          ) AS p
          CROSS JOIN (VALUES (true), (false)) AS d(fwd)
    """  # noqa: S608


def _insert_columns() -> str:
    comps = ", ".join(f"c_{name}" for name in COMPONENTS)
    return (
        f"brand_id, source_id, target_id, last_event_at, affinity, {comps}, strength, "
        "intensity, mutual_jaccard, strength_updated_at, created_at, updated_at"
    )


def _write_steps_sql(strength: str, t: WorkTables) -> list[tuple[str, str]]:
    """The per-brand write: upsert both rows of every kept pair, zero the scores of the
    brand's other rows that hold a negative flag, delete the rest."""
    comps = [f"c_{name}" for name in COMPONENTS]
    sets = ", ".join(f"{c} = EXCLUDED.{c}" for c in comps)
    zero = ", ".join(f"{c} = 0" for c in comps)
    has_flag = " OR ".join(f"t.{c} IS NOT NULL" for c in FLAG_COLUMNS)
    return [
        (
            "write",
            f"""INSERT INTO {TTAB} AS t ({_insert_columns()})
                {_rows_sql(strength, t)}
                ORDER BY 2, 3
                ON CONFLICT (source_id, target_id) DO UPDATE SET
                    last_event_at = EXCLUDED.last_event_at, affinity = EXCLUDED.affinity,
                    {sets}, strength = EXCLUDED.strength, intensity = EXCLUDED.intensity,
                    mutual_jaccard = EXCLUDED.mutual_jaccard,
                    strength_updated_at = EXCLUDED.strength_updated_at,
                    updated_at = EXCLUDED.updated_at""",
        ),
        (
            "prune",
            f"""WITH gone AS (
                    SELECT t.id, ({has_flag}) AS flagged FROM {TTAB} t
                     WHERE t.brand_id = %(brand)s AND NOT EXISTS (
                         SELECT 1 FROM {t.pair} p
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


def _run(
    cursor,
    steps: list[tuple[str, str]],
    args: dict,
    report: RecomputeReport,
    progress: Progress | None,
) -> None:
    for name, sql in steps:
        step_started = time.perf_counter()
        cursor.execute(sql, args)
        rows = cursor.rowcount
        if name == "claim":
            report.claimed = rows
        elif name == "pairs":
            report.pairs = rows
        elif name == "prune":
            report.deleted = rows
        _note(report, progress, name, step_started, rows)


def _transaction_settings(cursor) -> None:
    """``work_mem`` for the aggregates and hashes; no merge joins: with the work tables'
    unknown statistics the planner sorted the 1.5M-row friend expansion of the mutual step
    (and the pairs) for merge joins, where hash joins need no sort (2–4× faster there); no
    memoize: it cached every kept pair's two-row ``VALUES`` of the write (all misses, 0.9 s
    of a 1.6 s build for 94k pairs)."""
    cursor.execute(
        "SELECT set_config('work_mem', %s, true), set_config('enable_mergejoin', 'off', true),"
        " set_config('enable_memoize', 'off', true)",
        [settings.SCRM["RECOMPUTE_WORK_MEM"]],
    )


def _args(brands: list[int], as_of: datetime, now: datetime, params: TieParams) -> dict:
    return {
        "brands": brands,
        "brand": brands[0] if len(brands) == 1 else None,
        "now": now,
        "as_of": as_of,
        "t0": as_of.timestamp(),
        "q": params.kappa_percentile / 100.0,
    }


def _kappas(cursor, t: WorkTables) -> dict[int, tuple[float, int]]:
    cursor.execute(f"SELECT b, kappa, active FROM {t.kappa}")  # noqa: S608
    return {b: (kappa, active) for b, kappa, active in cursor.fetchall()}


def _save_stats(cursor, report: RecomputeReport, as_of: datetime, now: datetime) -> None:
    cursor.execute(
        tie_stats_upsert_sql(),
        {
            "brand": report.brand_id,
            "kappa": report.kappa,
            "active": report.active_pairs,
            "as_of": as_of,
            "rec_at": now,
            "rec_s": report.seconds,
        },
    )


def ties_recompute(
    *,
    brand_id: int,
    as_of: datetime | None = None,
    params: TieParams | None = None,
    progress: Progress | None = None,
) -> RecomputeReport:
    """Rebuild one brand's ties from its whole log; one transaction (see the module doc).
    With the brand's own parameters (`selectors.tie_params_for_brand`) unless ``params``."""
    params = params or tie_params_for_brand(brand_id=brand_id)
    started = time.perf_counter()
    now = timezone.now()
    as_of = as_of or now
    report = RecomputeReport(brand_id=brand_id)
    args = _args([brand_id], as_of, now, params)
    with transaction.atomic(), connection.cursor() as cursor:
        _transaction_settings(cursor)
        step_started = time.perf_counter()
        lock_brand_exclusive(cursor, brand_id)
        _note(report, progress, "lock", step_started, 0)
        work = WorkTables.of_backend(cursor)
        pair_steps, strength = _pair_steps_sql(params, work)
        _run(cursor, pair_steps, args, report, progress)
        report.kappa, report.active_pairs = _kappas(cursor, work)[brand_id]
        _run(cursor, _write_steps_sql(strength, work), args, report, progress)
        cursor.execute(f"DROP TABLE IF EXISTS {work.all}")
        report.seconds = time.perf_counter() - started
        _save_stats(cursor, report, as_of, now)
    return report


SWAP_SUFFIX, OLD_SUFFIX = "__rc", "__old"


def _suffixed(name: str, suffix: str) -> str:
    return name[: 63 - len(suffix)] + suffix


def _new_name(name: str) -> str:
    return _suffixed(name, SWAP_SUFFIX)


def _schema_of(cursor, table: str) -> tuple[list[tuple[str, str, str]], list[tuple[str, str]]]:
    """(name, kind, definition) of the table's constraints other than NOT NULL and CHECK
    (those come with ``LIKE``), and (name, definition) of its indexes that back no
    constraint."""
    cursor.execute(
        """SELECT conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint
            WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f', 'x')
            ORDER BY conname""",
        [table],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        """SELECT c.relname, pg_get_indexdef(i.indexrelid) FROM pg_index i
             JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                                                           AND k.conrelid = i.indrelid)
            ORDER BY c.relname""",
        [table],
    )
    return constraints, cursor.fetchall()


def tie_table_like_sql(cursor, new: str) -> str:
    """``CREATE TABLE new`` like the tie table, without its indexes, foreign keys or rows,
    with its storage parameters (the fillfactor that keeps worker updates HOT), which
    ``LIKE`` omits."""
    cursor.execute("SELECT reloptions FROM pg_class WHERE oid = %s::regclass", [TTAB])
    (reloptions,) = cursor.fetchone()
    storage = f" WITH ({', '.join(reloptions)})" if reloptions else ""
    return f"""CREATE TABLE {new} (LIKE {TTAB} INCLUDING DEFAULTS INCLUDING IDENTITY
                                   INCLUDING CONSTRAINTS INCLUDING STORAGE){storage}"""


def index_steps_sql(
    new: str, constraints: list[tuple[str, str, str]], indexes: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """(name, statement) giving ``new`` the constraints other than foreign keys and the
    indexes of `_schema_of`, under temporary names (`_new_name`)."""
    steps = [
        (name, f"ALTER TABLE {new} ADD CONSTRAINT {_new_name(name)} {definition}")
        for name, kind, definition in constraints
        if kind != "f"
    ]
    for name, definition in indexes:
        using = definition[definition.index(" USING ") :]
        steps.append((name, f"CREATE INDEX {_new_name(name)} ON {new}{using}"))
    return steps


def ties_recompute_all(
    *,
    as_of: datetime | None = None,
    params: TieParams | None = None,
    progress: Progress | None = None,
    on_step: Callable[[str], None] | None = None,
) -> list[RecomputeReport]:
    """Every brand at once: build the whole new tie table and swap it in; one transaction.

    The brands' exclusive scoring locks are held throughout (workers wait, as for a
    per-brand recompute). The new table is built without indexes, then gets the old one's
    indexes and constraints under temporary names. The swap locks the old table (ACCESS
    EXCLUSIVE: readers and the flag writes of ingest wait for the swap only, not the build),
    copies the negative flags from it — including flags set while the new table was being
    built — drops rows of customers deleted meanwhile, then drops the old table and gives
    the new one its name and the exact index, constraint and sequence names Django created,
    so the model and later migrations see the same schema (its storage parameters, such as
    the fillfactor, are the old table's from the start). Foreign
    keys are added ``NOT VALID`` in the swap and validated after the commit (a scan that
    blocks nobody). Ids of tie rows are not kept: nothing refers to them. Each brand is
    scored with its own parameters unless ``params`` is given (then every brand).
    """
    started = time.perf_counter()
    now = timezone.now()
    as_of = as_of or now
    brands = brand_ids()
    if not brands:
        return []
    total = RecomputeReport(brand_id=0)
    new, old = _new_name(TTAB), _suffixed(TTAB, OLD_SUFFIX)
    flags = ", ".join(FLAG_COLUMNS)
    has_flag = " OR ".join(f"{c} IS NOT NULL" for c in FLAG_COLUMNS)
    keep_latest = ", ".join(f"{c} = EXCLUDED.{c}" for c in FLAG_COLUMNS)

    def step(name: str, sql: str, params_: dict | list | None = None) -> int:
        if on_step is not None:
            on_step(name)
        step_started = time.perf_counter()
        cursor.execute(sql, params_)
        rows = cursor.rowcount
        _note(total, progress, name, step_started, rows)
        return rows

    with transaction.atomic(), connection.cursor() as cursor:
        _transaction_settings(cursor)
        # Left over if a process died between a swap's commit and the drop that follows it.
        cursor.execute(f"DROP TABLE IF EXISTS {old}")
        step_started = time.perf_counter()
        for brand_id in brands:
            lock_brand_exclusive(cursor, brand_id)
        vacuum_held_off = _hold_off_vacuum(cursor)
        _note(total, progress, "lock", step_started, 0)
        cursor.execute(f"SELECT brand_id, count(*) FROM {TTAB} GROUP BY 1")  # noqa: S608
        before = dict(cursor.fetchall())
        constraints, indexes = _schema_of(cursor, TTAB)
        kappas: dict[int, tuple[float, int]] = {}
        kept: dict[int, int] = {}
        # Brands scored with the same parameters are built together (usually all of them);
        # a brand with fitted parameters (TieModel) is a group of its own.
        for group, (group_params, group_brands) in enumerate(params_groups(brands, params)):
            group_args = _args(group_brands, as_of, now, group_params)
            work = WorkTables.of_backend(cursor, group)
            pair_steps, strength = _pair_steps_sql(group_params, work)
            _run(cursor, pair_steps, group_args, total, progress)
            vacuum_held_off = vacuum_held_off or _hold_off_vacuum(cursor)
            kappas |= _kappas(cursor, work)
            create = f"{tie_table_like_sql(cursor, new)};" if group == 0 else ""
            step(
                "build",
                f"""{create}
                    INSERT INTO {new} ({_insert_columns()}) {_rows_sql(strength, work)}""",
                group_args,
            )
            cursor.execute(f"SELECT b, count(*) FROM {work.pair} GROUP BY 1")  # noqa: S608
            kept |= dict(cursor.fetchall())
            cursor.execute(f"DROP TABLE IF EXISTS {work.all}")
        for name, sql in index_steps_sql(new, constraints, indexes):
            step(f"index {name}", sql)
        if not vacuum_held_off:
            step("wait for a vacuum", f"LOCK TABLE {TTAB} IN SHARE UPDATE EXCLUSIVE MODE")
        # The swap: ACCESS EXCLUSIVE from the start (a weaker lock upgraded for the DROP
        # would deadlock with a transaction that read the table and then writes a flag);
        # readers and writers wait from here until the commit. Deferred foreign key checks
        # of this transaction's own writes fire first: the table is dropped.
        step(
            "swap: lock",
            f"SET CONSTRAINTS ALL IMMEDIATE; LOCK TABLE {TTAB} IN ACCESS EXCLUSIVE MODE",
        )
        step(
            "swap: flags",
            f"""INSERT INTO {new} AS t (brand_id, source_id, target_id, {flags},
                                       created_at, updated_at)
                SELECT brand_id, source_id, target_id, {flags}, created_at, %s
                  FROM {TTAB} WHERE {has_flag}
                ON CONFLICT (source_id, target_id) DO UPDATE SET {keep_latest}""",  # noqa: S608
            [now],
        )
        ctab = Customer._meta.db_table
        step(
            "swap: deleted customers",
            f"""DELETE FROM {new} t WHERE NOT EXISTS (
                    SELECT 1 FROM {ctab} c WHERE c.id = t.source_id)
                 OR NOT EXISTS (SELECT 1 FROM {ctab} c WHERE c.id = t.target_id)""",  # noqa: S608
        )
        foreign = [(n, d) for n, kind, d in constraints if kind == "f"]
        for name, definition in foreign:
            step(
                f"swap: {name}",
                f"ALTER TABLE {new} ADD CONSTRAINT {_new_name(name)} {definition} NOT VALID",
            )
        # The old table steps aside under other names (dropping it here would lock the
        # customers table too, behind readers that may be waiting for this one).
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [TTAB])
        (old_sequence,) = cursor.fetchone()
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [new])
        (new_sequence,) = cursor.fetchone()
        renames = [f"ALTER TABLE {TTAB} RENAME TO {old}"]
        renames += [
            f"ALTER TABLE {old} RENAME CONSTRAINT {n} TO {_suffixed(n, OLD_SUFFIX)}"
            for n, _, _ in constraints
        ]
        renames += [f"ALTER INDEX {n} RENAME TO {_suffixed(n, OLD_SUFFIX)}" for n, _ in indexes]
        renames.append(f"ALTER TABLE {new} RENAME TO {TTAB}")
        renames += [
            f"ALTER TABLE {TTAB} RENAME CONSTRAINT {_new_name(n)} TO {n}" for n, _, _ in constraints
        ]
        renames += [f"ALTER INDEX {_new_name(n)} RENAME TO {n}" for n, _ in indexes]
        if old_sequence and new_sequence:
            bare = old_sequence.split(".")[-1].strip('"')
            renames.append(f"ALTER SEQUENCE {old_sequence} RENAME TO {_suffixed(bare, OLD_SUFFIX)}")
            renames.append(f"ALTER SEQUENCE {new_sequence} RENAME TO {bare}")
        step("swap: rename", "; ".join(renames))
        cursor.execute(
            f"SELECT brand_id, count(*) FROM {TTAB} GROUP BY 1"  # noqa: S608
        )
        after = dict(cursor.fetchall())
        seconds = time.perf_counter() - started
        reports = []
        for brand_id in brands:
            kappa, active = kappas.get(brand_id, (TieParams.from_settings().kappa_default, 0))
            report = RecomputeReport(
                brand_id=brand_id,
                kappa=kappa,
                active_pairs=active,
                pairs=kept.get(brand_id, 0),
                deleted=max(before.get(brand_id, 0) - after.get(brand_id, 0), 0),
                seconds=seconds,
                steps=total.steps,
            )
            _save_stats(cursor, report, as_of, now)
            reports.append(report)
    with connection.cursor() as cursor:
        step("drop old table", f"DROP TABLE {old}")
        for name, _ in foreign:
            step(f"validate {name}", f"ALTER TABLE {TTAB} VALIDATE CONSTRAINT {name}")
    total.seconds = time.perf_counter() - started
    for report in reports:
        report.seconds = total.seconds
    return reports


def _hold_off_vacuum(cursor) -> bool:
    """Keep (auto)vacuum and analyze off the old tie table until the swap, if no vacuum runs
    on it now (True: held). The swap's ACCESS EXCLUSIVE request would otherwise wait for a
    vacuum until the deadlock timeout cancels it (1 s by default), with every reader of ties
    queued behind it. SHARE UPDATE EXCLUSIVE lets reads and writes through; asked without
    waiting, so a vacuum running now is left to finish while the new table is built (the
    recompute asks again after each group, and waits only right before the swap, where
    waiting for this lock blocks nobody)."""
    try:
        with transaction.atomic():
            cursor.execute(f"LOCK TABLE {TTAB} IN SHARE UPDATE EXCLUSIVE MODE NOWAIT")
    except OperationalError as exc:
        if not isinstance(exc.__cause__, errors.LockNotAvailable):
            raise
        return False
    return True


def _note(
    report: RecomputeReport, progress: Progress | None, name: str, since: float, rows: int
) -> None:
    seconds = time.perf_counter() - since
    report.steps.append((name, seconds, rows))
    if progress is not None:
        progress(name, seconds, rows)
