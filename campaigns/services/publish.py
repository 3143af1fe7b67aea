"""Publishing: ask the decision, then fan the post out to the author's friends in one INSERT."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TypedDict

from django.db import connection, transaction
from django.utils import timezone

from scrm.tenancy.services import Caller

from ..models import Delivery, Post, PostStatus, PublishDecision
from .decision import DEFERRED, PUBLISHED, REJECTED, Decision, decide, friends_sql


class PublishAnswer(TypedDict):
    decision: str
    reasons: list[str]
    delivered: int
    suppressed: dict[str, int]
    deferred_until: datetime | None


def _audience_sql() -> str:
    """Every current friend with ``status`` and ``reason`` from the decision's exclusions."""
    return f"""
        SELECT f.rid,
               CASE WHEN x.reason IS NULL THEN 'delivered' ELSE 'suppressed' END AS status,
               COALESCE(x.reason, '') AS reason
          FROM ({friends_sql()}) AS f
          LEFT JOIN unnest(%(ex_ids)s::bigint[], %(ex_reasons)s::text[]) AS x(rid, reason)
                 ON x.rid = f.rid
    """  # noqa: S608


def _exclusion_params(decision: Decision) -> dict:
    return {
        "ex_ids": list(decision.exclusions),
        "ex_reasons": list(decision.exclusions.values()),
    }


def _fan_out(*, post: Post, decision: Decision, now: datetime) -> tuple[int, dict[str, int]]:
    """Insert one Delivery per current friend in a single ``INSERT … SELECT``."""
    table = Delivery._meta.db_table
    sql = f"""
        WITH inserted AS (
            INSERT INTO {table} (brand_id, post_id, recipient_id, status, reason, created_at)
            SELECT %(brand)s, %(post)s, a.rid, a.status, a.reason, %(now)s
              FROM ({_audience_sql()}) AS a
            ON CONFLICT (post_id, recipient_id) DO NOTHING
            RETURNING status, reason
        )
        SELECT status, reason, count(*) FROM inserted GROUP BY status, reason
    """  # noqa: S608
    params = {
        "brand": post.brand_id,
        "post": post.pk,
        "author": post.author_id,
        "now": now,
        **_exclusion_params(decision),
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    return _tally(rows)


def _tally(rows) -> tuple[int, dict[str, int]]:
    delivered, suppressed = 0, Counter()
    for status, reason, count in rows:
        if status == "delivered":
            delivered += count
        else:
            suppressed[reason] += count
    return delivered, dict(sorted(suppressed.items()))


def _preview_counts(*, post: Post, decision: Decision) -> tuple[int, dict[str, int]]:
    sql = f"""
        SELECT a.status, a.reason, count(*) FROM ({_audience_sql()}) AS a
         GROUP BY a.status, a.reason
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, {"author": post.author_id, **_exclusion_params(decision)})
        return _tally(cursor.fetchall())


def _answer(decision: Decision, delivered: int, suppressed: dict[str, int]) -> PublishAnswer:
    return {
        "decision": decision.decision,
        "reasons": list(decision.reasons),
        "delivered": delivered,
        "suppressed": suppressed,
        "deferred_until": decision.deferred_until,
    }


def _caller_label(caller: Caller) -> str:
    if caller.is_customer:
        return f"customer:{caller.customer_id}"
    if caller.is_app:
        return f"app:{caller.app_key_id}"
    return f"staff:{caller.user_id}"


@transaction.atomic
def post_publish(*, caller: Caller, post: Post, preview: bool = False) -> PublishAnswer:
    """Decide, then (unless ``preview``) apply the verdict, deliver and store the decision.

    A preview answers the same decision and counts and writes nothing.
    """
    now = timezone.now()
    query = Post.objects.select_related("author")
    post = query.get(pk=post.pk) if preview else query.select_for_update().get(pk=post.pk)
    decision = decide(caller=caller, post=post, now=now)

    if preview:
        if decision.decision != PUBLISHED:
            return _answer(decision, 0, {})
        delivered, suppressed = _preview_counts(post=post, decision=decision)
        return _answer(decision, delivered, suppressed)

    delivered, suppressed = 0, {}
    if decision.decision == PUBLISHED:
        delivered, suppressed = _fan_out(post=post, decision=decision, now=now)
        post.status = PostStatus.PUBLISHED
        post.published_at = now
        post.deferred_until = None
        post.rejection_reasons = []
    elif decision.decision == DEFERRED:
        post.status = PostStatus.DEFERRED
        post.deferred_until = decision.deferred_until
    elif decision.decision == REJECTED:
        post.status = PostStatus.REJECTED
        post.rejection_reasons = list(decision.reasons)
    post.save(
        update_fields=[
            "status",
            "published_at",
            "deferred_until",
            "rejection_reasons",
            "updated_at",
        ]
    )
    PublishDecision.objects.create(
        brand_id=post.brand_id,
        post=post,
        decision=decision.decision,
        reasons=list(decision.reasons),
        delivered=delivered,
        suppressed=suppressed,
        deferred_until=decision.deferred_until,
        decided_by=_caller_label(caller),
    )
    return _answer(decision, delivered, suppressed)
