"""Tie rows with scores, as the scoring workers leave them, for read-side tests."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from customers.models import Customer
from interactions.models import Tie


def tie_row(source: Customer, target: Customer, **fields) -> Tie:
    """One directed row source→target (scores, components, flags as given)."""
    fields.setdefault("last_event_at", timezone.now() if fields.get("affinity") else None)
    return Tie.objects.create(brand_id=source.brand_id, source=source, target=target, **fields)


def tie_pair(
    a: Customer,
    b: Customer,
    strength: float,
    *,
    at: datetime | None = None,
    out: dict | None = None,
    back: dict | None = None,
) -> tuple[Tie, Tie]:
    """Both directed rows of the pair a–b with the same undirected ``strength``."""
    when = at or timezone.now()
    common = {"strength": strength, "strength_updated_at": when}
    return (
        tie_row(a, b, last_event_at=when, **common, **(out or {})),
        tie_row(b, a, last_event_at=when, **common, **(back or {})),
    )
