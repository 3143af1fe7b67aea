"""The fatigue engine's live side: state from PostgreSQL, counters in Redis, their rebuild.

- `fatigue_inputs` builds `SenderHistory` and the `RecipientColumns` of every current friend
  of the author (one query returning one row of arrays);
- `ledger_for` reads the durable ledger (published posts, delivered commercial exposures) that
  `FatigueCounters.rebuild` restores Redis from;
- `counters_for` / `counters_rebuild` give the brand's Redis windows; `counters_run` checks
  and consumes them for one decision under the brand's fatigue lock.

The fatigue lock (a PostgreSQL advisory lock per brand) keeps Redis and the ledger in step
across a lost Redis: a decision holds it shared from the moment it consumes in Redis until its
transaction commits the deliveries that record the consumption; a rebuild holds it exclusive,
so it reads the ledger only once every consumption Redis lost is committed there. Without it,
a publish whose consumption was flushed before its commit would be missing from the rebuilt
state, and the next publish could exceed a recipient's cap.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache

import numpy as np
import redis
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from customers.models import Advocate, AdvocateStatus, Customer, CustomerKind
from interactions.models import NEGATIVE_TYPES, Interaction, Tie

from ..fatigue.counters import (
    CounterResult,
    ExposureRecord,
    FatigueCounters,
    Ledger,
    RebuildStats,
)
from ..fatigue.counters import SenderPostRecord as LedgerPost
from ..fatigue.rules import (
    NO_TIME,
    CounterPlan,
    FatiguePolicy,
    RecipientColumns,
    SenderHistory,
    SenderKind,
    SentPost,
    recipient_budget,
)
from ..models import Delivery, DeliveryStatus, Post, PostStatus
from .fatigue_policy import fatigue_policy_for

# Statuses of posts that went out (a withdrawn post was seen before it was taken down).
SENT_STATUSES = (PostStatus.PUBLISHED, PostStatus.WITHDRAWN)

# Tie flag columns (recipient → author) → the negative signal of the rules.
FLAG_SIGNALS = (
    ("blocked_at", "block"),
    ("reported_at", "report"),
    ("muted_at", "mute_author"),
    ("unfriended_at", "unfriend"),
    ("last_hidden_at", "hide_post"),
)


@lru_cache(maxsize=4)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)


def fatigue_redis() -> redis.Redis:
    """The process-wide client for the fatigue counters (``REDIS_URL``)."""
    return _client(settings.REDIS_URL)


def counters_for(*, brand_id: int) -> FatigueCounters:
    return FatigueCounters(fatigue_redis(), brand_id)


# --- the durable ledger ----------------------------------------------------------------


def ledger_for(*, brand_id: int, since: datetime) -> Ledger:
    """Posts that went out and delivered commercial exposures after ``since``, with post ids
    (the Redis members), read from PostgreSQL."""
    posts = list(
        Post.objects.filter(
            brand_id=brand_id, status__in=SENT_STATUSES, published_at__gt=since
        ).values_list("author_id", "published_at", "commercial", "pk")
    )
    exposures = list(
        Delivery.objects.filter(
            brand_id=brand_id,
            status=DeliveryStatus.DELIVERED,
            post__commercial=True,
            created_at__gt=since,
        ).values_list("recipient_id", "created_at", "post_id")
    )
    return Ledger(
        sender_posts=[LedgerPost(*row) for row in posts],
        exposures=[ExposureRecord(*row) for row in exposures],
    )


def ledger_loader(*, brand_id: int, now: datetime, window: timedelta):
    """A callable for ``FatigueCounters.run(ledger=…)``: the automatic rebuild."""
    return lambda: ledger_for(brand_id=brand_id, since=now - window)


LOCK_NAMESPACE = 0xFA71  # high 32 bits of the fatigue lock's key; the brand id is the low 32


def _fatigue_lock(brand_id: int, *, exclusive: bool) -> None:
    """The brand's fatigue lock, until the end of the current transaction (or savepoint)."""
    function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s)", [(LOCK_NAMESPACE << 32) | (brand_id & 0xFFFFFFFF)])


def counters_run(
    *,
    brand_id: int,
    post_id: int,
    plan: CounterPlan,
    preview: bool,
    now: datetime,
    window: timedelta,
) -> CounterResult:
    """Check (and unless ``preview``, consume) the plan's windows for ``post_id``.

    A publish calls it inside its transaction: the shared fatigue lock taken here is held
    until that commits. If Redis lost the brand's state, the savepoint that took the shared
    lock is rolled back (releasing it), the lock is taken exclusive — waiting for in-flight
    decisions to commit their deliveries — and the state is rebuilt from the ledger before the
    windows are checked again (another decision may have rebuilt it meanwhile). The exclusive
    lock is held until the publish commits, so the brand's decisions queue behind a rebuild.
    A preview consumes nothing and takes the lock only to rebuild.
    """
    counters = counters_for(brand_id=brand_id)
    ledger = ledger_loader(brand_id=brand_id, now=now, window=window)
    if preview:
        result = counters.run(post_id=post_id, plan=plan, preview=True)
        if result.status != "cold":
            return result
        with transaction.atomic():
            _fatigue_lock(brand_id, exclusive=True)
            return counters.run(post_id=post_id, plan=plan, preview=True, ledger=ledger)
    with transaction.atomic():
        # A savepoint left unreleased when all is well (one statement fewer on the hot path);
        # rolled back to release the shared lock when the state is cold.
        before_lock = transaction.savepoint()
        _fatigue_lock(brand_id, exclusive=False)
        result = counters.run(post_id=post_id, plan=plan, preview=False)
        if result.status != "cold":
            return result
        transaction.savepoint_rollback(before_lock)
        _fatigue_lock(brand_id, exclusive=True)
        return counters.run(post_id=post_id, plan=plan, preview=False, ledger=ledger)


@transaction.atomic
def counters_rebuild(*, brand_id: int, now: datetime | None = None) -> RebuildStats | None:
    """Replace the brand's Redis windows with the ledger (None: a rebuild was running), under
    the exclusive fatigue lock (after in-flight decisions have committed)."""
    _fatigue_lock(brand_id, exclusive=True)
    now = now or timezone.now()
    window = fatigue_policy_for(brand_id=brand_id).window
    ledger = ledger_for(brand_id=brand_id, since=now - window)
    return counters_for(brand_id=brand_id).rebuild(ledger, now=now, window=window, force=True)


# --- the inputs of one decision --------------------------------------------------------


def advocate_of(*, author: Customer) -> Advocate | None:
    """The author's advocate row, if any (no query when loaded with
    ``select_related("author__advocate")``)."""
    try:
        return author.advocate
    except Advocate.DoesNotExist:
        return None


def sender_kind(*, author: Customer) -> str:
    if author.kind == CustomerKind.BRAND_ACCOUNT:
        return SenderKind.BRAND_ACCOUNT
    advocate = advocate_of(author=author)
    is_advocate = advocate is not None and advocate.status != AdvocateStatus.RETIRED
    return SenderKind.ADVOCATE if is_advocate else SenderKind.CONSUMER


def _sender_sql() -> str:
    """The author's posts over the window (times, commercial flags), distinct recipients
    their posts reached in it and negative signals on them in it: one row."""
    post, delivery, interaction = (
        Post._meta.db_table,
        Delivery._meta.db_table,
        Interaction._meta.db_table,
    )
    return f"""
        SELECT
          (SELECT array_agg(p.published_at ORDER BY p.published_at) FROM {post} p
            WHERE p.author_id = %(author)s AND p.status = ANY(%(sent)s)
              AND p.published_at > %(since)s) AS post_times,
          (SELECT array_agg(p.commercial ORDER BY p.published_at) FROM {post} p
            WHERE p.author_id = %(author)s AND p.status = ANY(%(sent)s)
              AND p.published_at > %(since)s) AS post_flags,
          (SELECT count(DISTINCT d.recipient_id)
             FROM {delivery} d JOIN {post} p ON p.id = d.post_id
            WHERE p.author_id = %(author)s AND d.status = 'delivered'
              AND d.created_at > %(since)s) AS reached,
          (SELECT count(*) FROM {interaction} i
            WHERE i.brand_id = %(brand)s AND i.target_id = %(author)s
              AND i.type = ANY(%(negative)s) AND i.occurred_at > %(since)s
              AND i.occurred_at <= %(now)s) AS negative
    """  # noqa: S608 (table names only)


def _sender_params(*, author: Customer, now: datetime, window: timedelta) -> dict:
    return {
        "author": author.pk,
        "brand": author.brand_id,
        # A brand account's commercial post is a brand mass message: it needs that consent too.
        "brand_sender": author.kind == CustomerKind.BRAND_ACCOUNT,
        "sent": list(SENT_STATUSES),
        "since": now - window,
        "now": now,
        "negative": sorted(NEGATIVE_TYPES),
    }


def _sender_from_row(row: Sequence, *, author: Customer, kind: str) -> SenderHistory:
    times, flags, reached, negative = row
    return SenderHistory(
        sender_id=author.pk,
        kind=kind,
        posts=[SentPost(at, bool(c)) for at, c in zip(times or [], flags or [], strict=True)],
        recipients_reached=reached,
        negative_actions=negative,
    )


def friends_sql() -> str:
    """The author's current friends as ``rid`` (parameter ``author``)."""
    from customers.models import Friendship

    table = Friendship._meta.db_table
    return f"""
        SELECT customer_high_id AS rid FROM {table}
         WHERE customer_low_id = %(author)s AND ended_at IS NULL
        UNION
        SELECT customer_low_id FROM {table}
         WHERE customer_high_id = %(author)s AND ended_at IS NULL
    """  # noqa: S608 (table names only)


NO_TIME_SQL = f"'{NO_TIME}'::bigint"


def _us(column: str) -> str:
    """SQL: a timestamptz column as integer µs since the epoch, ``NO_TIME`` when NULL."""
    return f"coalesce((extract(epoch FROM {column}) * 1000000)::bigint, {NO_TIME_SQL})"


def _recipients_sql(*, commercial: bool, keep: int) -> str:
    """Every current friend of the author as one row of arrays (one array per column of
    `RecipientColumns`, friends in id order).

    - strength: ``Tie.strength`` of the pair (0 without a row);
    - negatives: the recipient's latest block/report/mute/unfriend/hide on the author (and the
      author's block of the recipient, which suppresses the pair as well);
    - exposures (``keep`` > 0): the recipient's newest ``keep`` delivered commercial posts from
      any of the brand's senders over the window (with ``keep`` ≥ every budget, counting only
      these decides exactly as counting all: the rules only ask whether a count reaches a
      budget);
    - ignored in a row: delivered commercial posts since the recipient's last engagement
      (``SCRM["ENGAGEMENT_TYPES"]`` on a commercial post), looking back ``lookback``.
    For a non-commercial post only the negatives are read. Times travel as integer µs:
    parsing thousands of timestamps costs more than the query takes to run.
    """
    customer, tie = Customer._meta.db_table, Tie._meta.db_table
    delivery, post, interaction = (
        Delivery._meta.db_table,
        Post._meta.db_table,
        Interaction._meta.db_table,
    )
    flag_arrays = ", ".join(
        f"array_agg({_us('r.' + column)} ORDER BY r.pos)" for column, _ in FLAG_SIGNALS
    )
    if commercial:
        exposure_sql = f"""
            , exposed AS (
                SELECT d.recipient_id AS rid, d.created_at AS at
                  FROM {delivery} d JOIN {post} p ON p.id = d.post_id
                 WHERE d.brand_id = %(brand)s AND d.recipient_id IN (SELECT rid FROM f)
                   AND d.status = 'delivered' AND p.commercial AND d.created_at > %(lookback)s
                   AND d.created_at <= %(now)s
            ), engaged AS (
                SELECT i.actor_id AS rid, max(i.occurred_at) AS at
                  FROM {interaction} i JOIN {post} p ON p.id = i.post_id
                 WHERE i.brand_id = %(brand)s AND i.actor_id IN (SELECT rid FROM f)
                   AND i.type = ANY(%(engagement)s) AND p.commercial
                   AND i.occurred_at > %(lookback)s
                 GROUP BY i.actor_id
            ), streak AS (
                SELECT e.rid, count(*) AS ignored, max(e.at) AS last
                  FROM exposed e LEFT JOIN engaged g ON g.rid = e.rid
                 WHERE e.at > coalesce(g.at, '-infinity')
                 GROUP BY e.rid
            )
        """  # noqa: S608
        recent_sql = """
            , recent AS (
                SELECT rid, at FROM (
                    SELECT rid, at, row_number() OVER (PARTITION BY rid ORDER BY at DESC) AS k
                      FROM exposed WHERE at > %(since)s
                ) ranked
                 WHERE k <= %(keep)s
            )
        """
        streak_join = "LEFT JOIN streak s ON s.rid = f.rid"
        streak_cols = f"coalesce(s.ignored, 0) AS ignored, {_us('s.last')} AS last_us"
        exposures = f"""
            (SELECT array_agg(f.pos ORDER BY f.pos, x.at) FROM recent x JOIN f ON f.rid = x.rid),
            (SELECT array_agg({_us("x.at")} ORDER BY x.rid, x.at) FROM recent x)
        """  # noqa: S608
    if not commercial or keep <= 0:
        recent_sql = ""
        exposures = "NULL::int[], NULL::bigint[]"
    if not commercial:
        exposure_sql = streak_join = ""
        streak_cols = f"0 AS ignored, {NO_TIME_SQL} AS last_us"
    flags = ", ".join(f"t_in.{column}" for column, _ in FLAG_SIGNALS if column != "blocked_at")
    sql = f"""
        WITH f AS (
            SELECT rid, (row_number() OVER (ORDER BY rid) - 1)::int AS pos
              FROM ({friends_sql()}) friends
        ) {exposure_sql} {recent_sql}
        , r AS (
            SELECT f.rid, f.pos,
                   c.marketing_consent AND (c.consent_mass_messages OR NOT %(brand_sender)s)
                       AS consent,
                   coalesce(t_out.strength, t_in.strength, 0) AS strength,
                   coalesce(t_in.blocked_at, t_out.blocked_at) AS blocked_at, {flags},
                   {streak_cols}
              FROM f
              JOIN {customer} c ON c.id = f.rid
              LEFT JOIN {tie} t_in ON t_in.source_id = f.rid AND t_in.target_id = %(author)s
              LEFT JOIN {tie} t_out ON t_out.source_id = %(author)s AND t_out.target_id = f.rid
              {streak_join}
        )
        SELECT array_agg(r.rid ORDER BY r.pos), array_agg(r.consent ORDER BY r.pos),
               array_agg(r.strength ORDER BY r.pos), {flag_arrays},
               array_agg(r.ignored ORDER BY r.pos), array_agg(r.last_us ORDER BY r.pos),
               {exposures}
          FROM r
    """  # noqa: S608
    return sql


def _recipient_params(
    *,
    author: Customer,
    now: datetime,
    window: timedelta,
    lookback: timedelta,
    keep: int,
) -> dict:
    return {
        "author": author.pk,
        "brand": author.brand_id,
        "now": now,
        "since": now - window,
        "lookback": now - max(lookback, window),
        "engagement": list(settings.SCRM["ENGAGEMENT_TYPES"]),
        "keep": keep,
    }


# Width of `_recipients_sql`' row: ids, consent, strength, the flags, ignored, last, exposures.
RECIPIENT_WIDTH = 3 + len(FLAG_SIGNALS) + 4


def _columns_from_row(row: Sequence) -> RecipientColumns:
    width = len(FLAG_SIGNALS)
    ids, consent, strength = row[0] or [], row[1] or [], row[2] or []
    marks = row[3 : 3 + width]
    ignored, last, owner, times = row[3 + width : RECIPIENT_WIDTH]
    return RecipientColumns(
        ids=ids,
        strength=np.array(strength, dtype=np.float64),
        marketing_consent=np.array(consent, dtype=bool),
        negatives={
            signal: np.array(values or [], dtype=np.int64)
            for (_, signal), values in zip(FLAG_SIGNALS, marks, strict=True)
        },
        ignored_in_row=np.array(ignored or [], dtype=np.int64),
        last_ignored_us=np.array(last or [], dtype=np.int64),
        exposure_owner=np.array(owner or [], dtype=np.int64),
        exposure_us=np.array(times or [], dtype=np.int64),
    )


def fatigue_inputs(
    *,
    author: Customer,
    commercial: bool,
    now: datetime,
    policy: FatiguePolicy,
    exposures: bool = False,
) -> tuple[str, SenderHistory, RecipientColumns]:
    """(sender kind, history, recipient columns) of ``author`` for a post at ``now``: the
    sender's history and every friend's state in one statement (one round trip).

    The recipients' exposures are read only with ``exposures``: the publish path leaves the
    recipient budgets to the Redis counters, which check every admitted recipient's daily and
    window budget atomically anyway (against the same ledger, rebuilt from PostgreSQL when
    lost); the rules then only work out each recipient's budget from its tie strength.
    """
    kind = sender_kind(author=author)
    lookback = timedelta(days=settings.SCRM["FATIGUE_IGNORED_LOOKBACK_DAYS"])
    # The largest budget any tie strength can give (strength 1: base × 1.5, rounded).
    keep = recipient_budget(max(policy.recipient_daily_cap, policy.recipient_weekly_cap), 1.0)
    keep = max(keep, 1) if exposures else 0
    window = policy.window
    sql = f"""
        SELECT * FROM ({_recipients_sql(commercial=commercial, keep=keep)}) recipients
        CROSS JOIN ({_sender_sql()}) sender
    """  # noqa: S608 (our own statements)
    params = _sender_params(author=author, now=now, window=window) | _recipient_params(
        author=author, now=now, window=window, lookback=lookback, keep=keep
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    history = _sender_from_row(row[RECIPIENT_WIDTH:], author=author, kind=kind)
    return kind, history, _columns_from_row(row)


def counters_forget(*, brand_id: int, customer_id: int) -> int:
    """Erasure: delete the customer's fatigue windows in Redis (as recipient and as sender)."""
    counters = counters_for(brand_id=brand_id)
    keys = [counters.recipient_key(customer_id), *counters.sender_keys(customer_id)]
    return int(counters.client.delete(*keys))
