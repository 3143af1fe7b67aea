"""Celery tasks of the campaigns app."""

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from .services.fatigue_live import counters_rebuild
from .services.publish import posts_publish_due


@shared_task(
    name="campaigns.publish_due_posts",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=300,
)
def publish_due_posts(limit: int | None = None) -> dict[str, int]:
    """Beat: publish deferred posts whose time has come (idempotent, concurrency-safe)."""
    return dict(posts_publish_due(limit=limit or settings.SCRM["DEFERRED_PUBLISH_BATCH"]))


@shared_task(
    name="campaigns.rebuild_fatigue_counters",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
)
def rebuild_fatigue_counters(brand_id: int) -> dict | None:
    """Replace one brand's Redis fatigue windows with the durable ledger."""
    stats = counters_rebuild(brand_id=brand_id)
    return None if stats is None else stats.__dict__
