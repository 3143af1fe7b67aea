"""Reads of the privacy app: brand scoped."""

from __future__ import annotations

from django.db.models import QuerySet

from customers.models import Customer
from scrm.tenancy.services import Caller

from .models import AuditEntry, ErasureRequest


def audit_list(*, caller: Caller) -> QuerySet[AuditEntry]:
    return AuditEntry.objects.filter(brand_id=caller.brand_id)


def erasure_list(*, customer: Customer) -> QuerySet[ErasureRequest]:
    return ErasureRequest.objects.filter(brand_id=customer.brand_id, customer=customer)
