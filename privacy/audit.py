"""The audit trail's one writer: `audit_record`. Who is acting is an `Actor`."""

from __future__ import annotations

from dataclasses import dataclass

from .models import AuditAction, AuditEntry

__all__ = ["Actor", "AuditAction", "audit_record", "audit_record_many"]


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff member (API or admin), an app key, a customer, or the system."""

    kind: str
    label: str
    user_id: int | None = None

    @classmethod
    def of_caller(cls, caller) -> Actor:
        kind = str(caller.kind)
        if kind == "staff":
            from django.contrib.auth import get_user_model

            user = get_user_model().objects.filter(pk=caller.user_id).first()
            name = user.get_username() if user else str(caller.user_id)
            return cls(kind="staff", label=f"staff:{name}", user_id=caller.user_id)
        if kind == "app":
            return cls(kind="app", label=f"app_key:{caller.app_key_id}")
        return cls(kind="customer", label=f"customer:{caller.customer_id}")

    @classmethod
    def of_user(cls, user) -> Actor:
        return cls(kind="staff", label=f"admin:{user.get_username()}", user_id=user.pk)

    @classmethod
    def system(cls) -> Actor:
        return cls(kind="system", label="system")


def audit_record(
    *,
    brand_id: int,
    action: str,
    customer_id: int | None,
    actor: Actor,
    details: dict | None = None,
) -> AuditEntry:
    """Append one entry (in the caller's transaction: it exists only if the act happened)."""
    entry = _entry(brand_id, action, actor, customer_id, details or {})
    entry.save(force_insert=True)
    return entry


def _entry(brand_id: int, action: str, actor: Actor, customer_id: int | None, details: dict):
    return AuditEntry(
        brand_id=brand_id,
        action=action,
        customer_id=customer_id,
        actor_kind=actor.kind,
        actor_user_id=actor.user_id,
        actor_label=actor.label[:150],
        details=details,
    )


def audit_record_many(
    *, brand_id: int, action: str, actor: Actor, entries: list[tuple[int | None, dict]]
) -> int:
    """Append one entry per ``(customer_id, details)``, in bulk (imports)."""
    rows = AuditEntry.objects.bulk_create(
        _entry(brand_id, action, actor, customer_id, details) for customer_id, details in entries
    )
    return len(rows)
