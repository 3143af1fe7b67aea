"""Publishing: ask the decision, then fan the post out to the author's friends in one INSERT.

``post_publish`` serves the API (publish and publish-preview); ``posts_publish_due`` is the
beat task's service that publishes deferred posts whose time has come, re-checked then.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime
from typing import TypedDict

from django.db import connection, transaction
from django.utils import timezone

from customers.models import Advocate, AdvocateStatus
from customers.services import advocate_set_status
from scrm.tenancy.services import Caller

from ..models import Delivery, Post, PostStatus, PublishDecision
from .decision import DEFERRED, POST_RELATED, PUBLISHED, REJECTED, Decision, decide

logger = logging.getLogger(__name__)

DUE_TASK_LABEL = "task:publish_due"


class PublishAnswer(TypedDict):
    decision: str
    reasons: list[dict]
    delivered: int
    suppressed: dict[str, int]
    deferred_until: datetime | None


def _fan_out(*, post: Post, decision: Decision, now: datetime) -> tuple[int, dict[str, int]]:
    """One Delivery per recipient the decision looked at, in a single ``INSERT … SELECT``."""
    table = Delivery._meta.db_table
    ids = [*decision.admitted, *decision.exclusions]
    reasons = ["" for _ in decision.admitted] + list(decision.exclusions.values())
    sql = f"""
        WITH inserted AS (
            INSERT INTO {table} (brand_id, post_id, recipient_id, status, reason, created_at)
            SELECT %(brand)s, %(post)s, x.rid,
                   CASE WHEN x.reason = '' THEN 'delivered' ELSE 'suppressed' END,
                   x.reason, %(now)s
              FROM unnest(%(ids)s::bigint[], %(reasons)s::text[]) AS x(rid, reason)
            ON CONFLICT (post_id, recipient_id) DO NOTHING
            RETURNING status, reason
        )
        SELECT status, reason, count(*) FROM inserted GROUP BY status, reason
    """  # noqa: S608
    params = {"brand": post.brand_id, "post": post.pk, "now": now, "ids": ids, "reasons": reasons}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    delivered, suppressed = 0, Counter()
    for status, reason, count in rows:
        if status == "delivered":
            delivered += count
        else:
            suppressed[reason] += count
    return delivered, dict(sorted(suppressed.items()))


def _answer(decision: Decision, delivered: int, suppressed: dict[str, int]) -> PublishAnswer:
    return {
        "decision": decision.decision,
        "reasons": list(decision.reasons),
        "delivered": delivered,
        "suppressed": suppressed,
        "deferred_until": decision.deferred_until,
    }


def _caller_label(caller: Caller | None) -> str:
    if caller is None:
        return DUE_TASK_LABEL
    if caller.is_customer:
        return f"customer:{caller.customer_id}"
    if caller.is_app:
        return f"app:{caller.app_key_id}"
    return f"staff:{caller.user_id}"


def _pause_author(*, post: Post, reason: str) -> None:
    advocate = Advocate.objects.filter(customer_id=post.author_id).first()
    if advocate is not None and advocate.status == AdvocateStatus.ACTIVE:
        advocate_set_status(advocate=advocate, status=AdvocateStatus.PAUSED, reason=reason[:255])


def _apply(*, post: Post, caller: Caller | None, now: datetime, preview: bool) -> PublishAnswer:
    decision = decide(caller=caller, post=post, now=now, preview=preview)
    if preview:
        if decision.decision != PUBLISHED:
            return _answer(decision, 0, {})
        return _answer(decision, len(decision.admitted), decision.suppressed)

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
        post.deferred_until = None
        post.rejection_reasons = list(decision.reasons)
        if decision.pause_reason:
            _pause_author(post=post, reason=decision.pause_reason)
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
        rules=list(decision.rules),
        delivered=delivered,
        suppressed=suppressed,
        deferred_until=decision.deferred_until,
        decided_by=_caller_label(caller),
    )
    return _answer(decision, delivered, suppressed)


def post_publish(*, caller: Caller, post: Post, preview: bool = False) -> PublishAnswer:
    """Decide, then (unless ``preview``) apply the verdict, deliver and store the decision,
    in one transaction holding the post's (and its author's) row lock.

    A preview answers the same decision and counts and writes and consumes nothing, so it
    runs outside a transaction (no BEGIN/COMMIT round trips, no lock).
    """
    now = timezone.now()
    if preview:
        post = Post.objects.select_related(*POST_RELATED).get(pk=post.pk)
        return _apply(post=post, caller=caller, now=now, preview=True)
    return post_publish_as_of(caller=caller, post=post, at=now)


@transaction.atomic
def post_publish_as_of(*, caller: Caller, post: Post, at: datetime) -> PublishAnswer:
    """Decide and apply as of ``at`` under the post's (and its author's) row lock: the publish
    path with the clock given. With a past ``at`` it loads history in time order (demo
    activity, imports); the Redis fatigue counters are then consumed at ``at``, so rebuild
    them from the ledger afterwards (``counters_rebuild``)."""
    query = Post.objects.select_related(*POST_RELATED).select_for_update(of=("self", "author"))
    return _apply(post=query.get(pk=post.pk), caller=caller, now=at, preview=False)


def posts_publish_due(*, limit: int, now: datetime | None = None) -> Counter:
    """Publish deferred posts whose time has come, each re-checked against the rules now
    (it may be published, deferred again or rejected) in its own transaction.

    Safe to run concurrently: each post is claimed with ``SELECT … FOR UPDATE SKIP LOCKED``
    and re-read, so two runs never decide one post twice. Returns counts by verdict.
    """
    now = now or timezone.now()
    due = list(
        Post.objects.filter(status=PostStatus.DEFERRED, deferred_until__lte=now)
        .order_by("deferred_until", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    outcomes: Counter = Counter()
    for post_id in due:
        try:
            with transaction.atomic():
                post = (
                    Post.objects.select_for_update(skip_locked=True, of=("self",))
                    .select_related(*POST_RELATED)
                    .filter(pk=post_id, status=PostStatus.DEFERRED, deferred_until__lte=now)
                    .first()
                )
                if post is None:
                    outcomes["skipped"] += 1  # taken by another run, or no longer due
                    continue
                answer = _apply(post=post, caller=None, now=timezone.now(), preview=False)
                outcomes[answer["decision"]] += 1
        except Exception:
            logger.exception("publishing deferred post %s failed", post_id)
            outcomes["failed"] += 1
    return outcomes
