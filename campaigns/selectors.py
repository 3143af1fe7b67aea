"""Brand-scoped reads of posts, deliveries and the feed."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from interactions.selectors import EMPTY_ENGAGEMENT, post_engagement
from scrm.tenancy.services import Caller

from .models import (
    Campaign,
    Conversion,
    Delivery,
    DeliveryStatus,
    Enrollment,
    Post,
    PostStatus,
    SampleShipment,
)


def post_list(*, caller: Caller) -> QuerySet[Post]:
    """The brand's posts; a customer token sees only the posts it authored."""
    queryset = Post.objects.filter(brand_id=caller.brand_id).select_related("author")
    if caller.is_customer:
        queryset = queryset.filter(author_id=caller.customer_id)
    return queryset


def feed_for(*, brand_id: int, customer_id: int) -> QuerySet[Delivery]:
    """Delivered, still-published posts of one customer's feed (order: newest delivery first),
    with the columns a feed entry shows (the post's author: id and name only; reading all
    three rows' columns was half of a feed page's time)."""
    return (
        Delivery.objects.filter(
            brand_id=brand_id,
            recipient_id=customer_id,
            status=DeliveryStatus.DELIVERED,
            post__status=PostStatus.PUBLISHED,
        )
        .select_related("post", "post__author")
        .only(
            "id",
            "created_at",
            "post__id",
            "post__text",
            "post__media",
            "post__commercial",
            "post__published_at",
            "post__author__id",
            "post__author__display_name",
        )
        .order_by("-id")
    )


def feed_engagement(*, deliveries: list[Delivery], viewer_id: int) -> dict[int, dict]:
    counts = post_engagement(post_ids=[d.post_id for d in deliveries], viewer_id=viewer_id)
    return {d.post_id: counts.get(d.post_id, EMPTY_ENGAGEMENT) for d in deliveries}


def post_stats(*, post: Post) -> dict:
    """Deliveries, suppressed by reason, views, likes, comments, forwards, engagement rate.

    The engagement rate is distinct people who clicked, liked, commented, replied or
    forwarded, divided by the people the post was delivered to.
    """
    delivered, suppressed = 0, {}
    rows = (
        Delivery.objects.filter(post_id=post.pk)
        .values("status", "reason")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        if row["status"] == DeliveryStatus.DELIVERED:
            delivered += row["n"]
        else:
            suppressed[row["reason"]] = row["n"]
    engagement = post_engagement(post_ids=[post.pk]).get(post.pk, EMPTY_ENGAGEMENT)
    return {
        "deliveries": delivered + sum(suppressed.values()),
        "delivered": delivered,
        "suppressed": dict(sorted(suppressed.items())),
        "views": engagement["views"],
        "clicks": engagement["clicks"],
        "likes": engagement["likes"],
        "comments": engagement["comments"],
        "replies": engagement["replies"],
        "forwards": engagement["forwards"],
        "engagement_rate": round(engagement["engaged"] / delivered, 4) if delivered else 0.0,
    }


# --- Campaigns, enrollments, conversions ---------------------------------------------------


def campaign_list(*, brand_id: int) -> QuerySet[Campaign]:
    return Campaign.objects.filter(brand_id=brand_id).select_related("brand")


def enrollment_list(*, campaign: Campaign) -> QuerySet[Enrollment]:
    return (
        Enrollment.objects.filter(campaign_id=campaign.pk)
        .select_related("advocate__customer")
        .prefetch_related(Prefetch("samples", queryset=SampleShipment.objects.order_by("pk")))
    )


def conversion_list(*, brand_id: int) -> QuerySet[Conversion]:
    return Conversion.objects.filter(brand_id=brand_id)
