"""Brand-scoped reads of customers, friendships and advocates."""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from scrm.tenancy.services import Caller

from .models import Advocate, Customer, Friendship


def customer_list(*, caller: Caller) -> QuerySet[Customer]:
    queryset = Customer.objects.filter(brand_id=caller.brand_id)
    if caller.is_customer:
        queryset = queryset.filter(pk=caller.customer_id)
    return queryset.annotate(
        is_advocate=Exists(Advocate.objects.filter(customer_id=OuterRef("pk")))
    )


def customer_get_in_brand(*, brand_id: int, customer_id: int) -> Customer | None:
    return Customer.objects.filter(brand_id=brand_id, pk=customer_id).first()


def friendship_list(*, caller: Caller) -> QuerySet[Friendship]:
    queryset = Friendship.objects.filter(brand_id=caller.brand_id)
    if caller.is_customer:
        queryset = queryset.filter(
            Q(customer_low_id=caller.customer_id) | Q(customer_high_id=caller.customer_id)
        )
    return queryset.select_related("customer_low", "customer_high")


def friendship_current(*, brand_id: int, a: int, b: int) -> Friendship | None:
    low, high = (a, b) if a < b else (b, a)
    return Friendship.objects.filter(
        brand_id=brand_id, customer_low_id=low, customer_high_id=high, ended_at__isnull=True
    ).first()


def friends_of(*, customer: Customer) -> QuerySet[Customer]:
    """The customer's current friends, each annotated with ``friends_since``."""
    low_side = Friendship.objects.filter(
        customer_low_id=customer.pk, customer_high_id=OuterRef("pk"), ended_at__isnull=True
    )
    high_side = Friendship.objects.filter(
        customer_high_id=customer.pk, customer_low_id=OuterRef("pk"), ended_at__isnull=True
    )
    current = Friendship.objects.filter(ended_at__isnull=True)
    return (
        Customer.objects.filter(brand_id=customer.brand_id)
        .filter(
            Q(pk__in=current.filter(customer_low_id=customer.pk).values("customer_high_id"))
            | Q(pk__in=current.filter(customer_high_id=customer.pk).values("customer_low_id"))
        )
        .annotate(
            friends_since=Coalesce(
                Subquery(low_side.values("since")[:1]), Subquery(high_side.values("since")[:1])
            ),
            is_advocate=Exists(Advocate.objects.filter(customer_id=OuterRef("pk"))),
        )
    )


def advocate_list(*, caller: Caller) -> QuerySet[Advocate]:
    queryset = Advocate.objects.filter(brand_id=caller.brand_id).select_related("customer")
    if caller.is_customer:
        queryset = queryset.filter(customer_id=caller.customer_id)
    return queryset
