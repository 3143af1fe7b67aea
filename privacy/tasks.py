"""Celery tasks of the privacy app."""

from __future__ import annotations

from celery import shared_task
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
