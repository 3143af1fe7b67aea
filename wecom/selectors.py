"""Brand-scoped reads of the WeCom connector."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet

from campaigns.models import Delivery
from scrm.tenancy.models import Brand

from .models import CallbackEvent, ChurnRecord, WeComConfig, WeComStaff


def wecom_config_of(*, brand_id: int) -> WeComConfig | None:
    return WeComConfig.objects.filter(brand_id=brand_id).first()


def wecom_config_for_callback(*, brand_slug: str) -> WeComConfig | None:
    """The active configuration of an active brand, by the slug in the callback URL."""
    return (
        WeComConfig.objects.filter(brand__slug=brand_slug, brand__is_active=True, is_active=True)
        .select_related("brand")
        .first()
    )


def wecom_staff_of(*, brand_id: int) -> QuerySet[WeComStaff]:
    return WeComStaff.objects.filter(brand_id=brand_id).order_by("user_id")


def brand_slug_of(*, brand_id: int) -> str:
    return Brand.objects.values_list("slug", flat=True).get(pk=brand_id)


def churn_list(*, brand_id: int) -> QuerySet[ChurnRecord]:
    return ChurnRecord.objects.filter(brand_id=brand_id).select_related("customer", "brand_account")


def churn_seen_posts(*, records: list[ChurnRecord]) -> dict[int, list[Delivery]]:
    """For each churn record: the posts delivered to the customer in the
    ``CHURN_SEEN_POSTS_DAYS`` before they left, newest first (one query for the page)."""
    if not records:
        return {}
    days = timedelta(days=settings.SCRM["CHURN_SEEN_POSTS_DAYS"])
    earliest = min(r.occurred_at for r in records) - days
    latest = max(r.occurred_at for r in records)
    deliveries = (
        Delivery.objects.filter(
            recipient_id__in={r.customer_id for r in records},
            status="delivered",
            created_at__gte=earliest,
            created_at__lte=latest,
        )
        .select_related("post")
        .order_by("-created_at", "-id")
    )
    by_customer: dict[int, list[Delivery]] = defaultdict(list)
    for delivery in deliveries:
        by_customer[delivery.recipient_id].append(delivery)
    return {
        record.pk: [
            d
            for d in by_customer.get(record.customer_id, [])
            if record.occurred_at - days <= d.created_at <= record.occurred_at
        ]
        for record in records
    }


def callback_events(*, brand_id: int) -> QuerySet[CallbackEvent]:
    return CallbackEvent.objects.filter(brand_id=brand_id)
