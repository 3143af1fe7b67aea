"""Celery tasks of the privacy app."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.db import OperationalError

from . import services


@shared_task(
    name="privacy.erase_customer",
    bind=True,
    acks_late=True,
    max_retries=12,
    soft_time_limit=300,
    time_limit=360,
)
def erase_customer(self, request_id: int) -> dict:
    """Carry out an erasure request (idempotent). While the brand's scoring lock is held (a
    recompute runs) it retries with back-off; after the last retry the request is failed."""
    try:
        request = services.erasure_run(request_id=request_id)
    except OperationalError as error:
        if self.request.retries >= self.max_retries:
            services.erasure_failed(request_id=request_id, error=str(error))
            raise
        services.erasure_waiting(request_id=request_id, error=str(error))
        raise self.retry(exc=error, countdown=min(30 * 2**self.request.retries, 600)) from error
    return {"request": request.pk, "status": request.status}


@shared_task(
    name="privacy.requeue_erasures",
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=3,
    soft_time_limit=120,
    time_limit=180,
)
def requeue_erasures(older_than_minutes: int | None = None) -> dict:
    """Sweeper (beat): queue again the erasure requests whose task was lost."""
    older = older_than_minutes
    if older is None:
        older = settings.SCRM["ERASURE_SWEEP_AFTER_MINUTES"]
    return services.erasures_requeue(older_than_minutes=older)


@shared_task(
    name="privacy.fold_interactions",
    bind=True,
    acks_late=True,
    max_retries=6,
    soft_time_limit=3 * 60 * 60 - 60,
    time_limit=3 * 60 * 60,
)
def fold_interactions(self, brand_id: int | None = None) -> list[dict]:
    """Beat: apply every brand's retention policy (or one brand's): raw interactions older
    than the period are folded into per-pair aggregates. Retries while a brand's scoring lock
    is held by a recompute."""
    from . import retention

    brands = [brand_id] if brand_id is not None else retention.brands_with_retention()
    try:
        return [retention.retention_apply(brand_id=b).as_dict() for b in brands]
    except OperationalError as error:
        raise self.retry(exc=error, countdown=min(60 * 2**self.request.retries, 1800)) from error
