"""The one publish decision: a verdict for the post and per-recipient exclusions.

``decide`` is the seam fatigue rules plug into. Today it applies:
- the guards: the caller may publish for this author and the post is a draft or deferred
  (errors, not verdicts: 403 / 409);
- commercial posts of a paused or retired advocate are rejected;
- pair suppressions, read from the directed pair state (``interactions.Tie``, recipient →
  author): ``blocked`` (either direction) and ``reported`` for good; ``unfriended``,
  ``muted`` and ``hidden`` for the days in ``SCRM["PAIR_SUPPRESSION_DAYS"]``;
- consent: recipients who opted out of marketing do not get commercial posts (``no_consent``).
Exclusions are computed with one set-based query over the author's current friends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from customers.models import Advocate, AdvocateStatus, Customer, Friendship
from interactions.models import Tie
from scrm.api.errors import Conflict
from scrm.tenancy.services import Caller

from ..models import Post, PostStatus
from .posts import PUBLISHABLE, author_check

PUBLISHED = "published"
DEFERRED = "deferred"
REJECTED = "rejected"


@dataclass(frozen=True)
class Decision:
    decision: str
    reasons: list[str] = field(default_factory=list)
    exclusions: dict[int, str] = field(default_factory=dict)  # recipient id → reason code
    deferred_until: datetime | None = None


def friends_sql() -> str:
    """The author's current friends as ``rid`` (parameter ``author``)."""
    table = Friendship._meta.db_table
    return f"""
        SELECT customer_high_id AS rid FROM {table}
         WHERE customer_low_id = %(author)s AND ended_at IS NULL
        UNION ALL
        SELECT customer_low_id FROM {table}
         WHERE customer_high_id = %(author)s AND ended_at IS NULL
    """  # noqa: S608 (table names only)


def pair_exclusions(*, author_id: int, commercial: bool, now: datetime) -> dict[int, str]:
    """Friends of ``author_id`` who must not get the post, with the reason, in one query."""
    days = settings.SCRM["PAIR_SUPPRESSION_DAYS"]
    tie, customer = Tie._meta.db_table, Customer._meta.db_table
    sql = f"""
        SELECT rid, reason FROM (
            SELECT f.rid, CASE
                WHEN t_in.blocked_at IS NOT NULL OR t_out.id IS NOT NULL THEN 'blocked'
                WHEN t_in.reported_at IS NOT NULL THEN 'reported'
                WHEN t_in.unfriended_at > %(unfriended_since)s THEN 'unfriended'
                WHEN t_in.muted_at > %(muted_since)s THEN 'muted'
                WHEN t_in.last_hidden_at > %(hidden_since)s THEN 'hidden'
                WHEN %(commercial)s AND NOT c.marketing_consent THEN 'no_consent'
            END AS reason
            FROM ({friends_sql()}) AS f
            JOIN {customer} AS c ON c.id = f.rid
            LEFT JOIN {tie} AS t_in ON t_in.source_id = f.rid AND t_in.target_id = %(author)s
            LEFT JOIN {tie} AS t_out ON t_out.source_id = %(author)s AND t_out.target_id = f.rid
                  AND t_out.blocked_at IS NOT NULL
        ) AS verdicts
        WHERE reason IS NOT NULL
    """  # noqa: S608
    params = {
        "author": author_id,
        "commercial": commercial,
        "unfriended_since": now - timedelta(days=days["unfriended"]),
        "muted_since": now - timedelta(days=days["muted"]),
        "hidden_since": now - timedelta(days=days["hidden"]),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return dict(cursor.fetchall())


def publish_guard(*, caller: Caller, post: Post) -> None:
    author_check(caller=caller, author=post.author)
    if post.status not in PUBLISHABLE:
        raise Conflict(f"A {post.status} post cannot be published.")


def decide(*, caller: Caller, post: Post, now: datetime) -> Decision:
    """The verdict for publishing ``post`` now. Reads only; consumes nothing."""
    publish_guard(caller=caller, post=post)
    if post.commercial:
        status = (
            Advocate.objects.filter(customer_id=post.author_id)
            .values_list("status", flat=True)
            .first()
        )
        if status in (AdvocateStatus.PAUSED, AdvocateStatus.RETIRED):
            return Decision(decision=REJECTED, reasons=[f"advocate_{status}"])
    if post.status == PostStatus.DEFERRED and post.deferred_until and post.deferred_until > now:
        return Decision(decision=DEFERRED, reasons=["deferred"], deferred_until=post.deferred_until)
    exclusions = pair_exclusions(author_id=post.author_id, commercial=post.commercial, now=now)
    return Decision(decision=PUBLISHED, exclusions=exclusions)
