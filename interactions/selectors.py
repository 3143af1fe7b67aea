"""Brand-scoped reads of the interaction log and the pair state."""

from __future__ import annotations

from django.db import connection
from django.db.models import QuerySet

from scrm.tenancy.services import Caller

from .models import Interaction

COUNTED_TYPES = ("view", "click", "like", "unlike", "comment", "reply", "forward")


def interaction_list(*, caller: Caller) -> QuerySet[Interaction]:
    """The brand's log; a customer token sees only the events it sent."""
    queryset = Interaction.objects.filter(brand_id=caller.brand_id)
    if caller.is_customer:
        queryset = queryset.filter(actor_id=caller.customer_id)
    return queryset


def post_engagement(*, post_ids: list[int], viewer_id: int | None = None) -> dict[int, dict]:
    """Per post: likes (an unlike subtracts), comments, forwards, views, clicks, replies,
    distinct engaged people and whether ``viewer_id`` likes it. One aggregate query."""
    if not post_ids:
        return {}
    sql = f"""
        SELECT post_id,
               count(*) FILTER (WHERE type = 'like') - count(*) FILTER (WHERE type = 'unlike'),
               count(*) FILTER (WHERE type = 'comment'),
               count(*) FILTER (WHERE type = 'forward'),
               count(*) FILTER (WHERE type = 'view'),
               count(*) FILTER (WHERE type = 'click'),
               count(*) FILTER (WHERE type = 'reply'),
               count(DISTINCT actor_id) FILTER (
                   WHERE type IN ('like', 'comment', 'reply', 'forward', 'click')),
               COALESCE(sum(CASE WHEN actor_id = %(viewer)s AND type = 'like' THEN 1
                                 WHEN actor_id = %(viewer)s AND type = 'unlike' THEN -1
                            END), 0) > 0
          FROM {Interaction._meta.db_table}
         WHERE post_id = ANY(%(posts)s::bigint[]) AND type = ANY(%(types)s::text[])
         GROUP BY post_id
    """  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(
            sql, {"viewer": viewer_id, "posts": list(post_ids), "types": list(COUNTED_TYPES)}
        )
        rows = cursor.fetchall()
    keys = ("likes", "comments", "forwards", "views", "clicks", "replies", "engaged", "liked_by_me")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


EMPTY_ENGAGEMENT = {
    "likes": 0,
    "comments": 0,
    "forwards": 0,
    "views": 0,
    "clicks": 0,
    "replies": 0,
    "engaged": 0,
    "liked_by_me": False,
}
