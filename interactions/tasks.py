"""Celery tasks of the interactions app (routed to the ``scoring`` queue)."""

from datetime import timedelta

import psycopg
from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from . import recompute, scoring_db

# The scoring batch runs on a psycopg cursor of its own (binary parameters): its lock
# timeouts surface as psycopg's OperationalError, not Django's wrapper.
RETRYABLE = (OperationalError, psycopg.OperationalError)


@shared_task(
    name="interactions.score_batch",
    acks_late=True,
    autoretry_for=RETRYABLE,
    retry_backoff=2,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=5,
    soft_time_limit=60,
    time_limit=90,
)
def score_batch(interaction_ids: list[int]) -> dict:
    """Apply a batch of new interactions to the ties (idempotent: re-delivery changes nothing),
    with the brand's oldest other pending interactions up to ``SCORING_BATCH_MAX`` (one
    batch per brand at a time: the next one takes what queued while it waited)."""
    return scoring_db.ties_score_batch(
        interaction_ids=interaction_ids, fill_to=settings.SCRM["SCORING_BATCH_MAX"]
    ).as_dict()


@shared_task(
    name="interactions.score_unscored",
    acks_late=True,
    autoretry_for=RETRYABLE,
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=240,
    time_limit=300,
)
def score_unscored(older_than_minutes: int | None = None) -> int:
    """Sweeper (beat): score interactions left pending by a lost task or a killed worker."""
    older = None if older_than_minutes is None else timedelta(minutes=older_than_minutes)
    return scoring_db.ties_score_unscored(older_than=older)


@shared_task(
    name="interactions.recompute_ties",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=60,
    max_retries=3,
    soft_time_limit=3 * 60 * 60 - 60,
    time_limit=3 * 60 * 60,
)
def recompute_ties(brand_id: int | None = None) -> list[dict]:
    """Full recompute from the log (beat, nightly): one brand, or every brand."""
    if brand_id is None:
        reports = recompute.ties_recompute_all()
    else:
        reports = [recompute.ties_recompute(brand_id=brand_id)]
    return [
        {"brand_id": r.brand_id, "pairs": r.pairs, "kappa": r.kappa, "seconds": r.seconds}
        for r in reports
    ]


@shared_task(
    name="interactions.refresh_kappa",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=660,
)
def refresh_kappa(brand_id: int | None = None) -> dict[int, float]:
    """κ of one brand or every brand (beat, hourly); strengths follow on their next refresh."""
    brand_ids = [brand_id] if brand_id is not None else recompute.brand_ids()
    return {b: scoring_db.tie_stats_refresh_kappa(brand_id=b) for b in brand_ids}
