"""Admin: the audit trail (owners, read only, never editable or deletable) and erasure
requests (read only; requests are made through the API)."""

from __future__ import annotations

from django.contrib import admin

from scrm.tenancy.admin_scoping import BrandScopedAdminMixin, ScopedBrandFilter
from scrm.tenancy.models import Role

from .models import AuditEntry, ErasureRequest


class ReadOnlyAdminMixin:
    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, BrandScopedAdminMixin, admin.ModelAdmin):
    view_role = Role.OWNER
    list_display = ["at", "action", "customer_id", "actor_label", "actor_kind", "brand"]
    list_filter = ["action", "actor_kind", ScopedBrandFilter]
    search_fields = ["=customer_id", "actor_label"]
    readonly_fields = [
        "brand",
        "at",
        "action",
        "customer_id",
        "actor_kind",
        "actor_user",
        "actor_label",
        "details",
    ]
    ordering = ["-id"]
    show_full_result_count = False
    actions = None


@admin.register(ErasureRequest)
class ErasureRequestAdmin(ReadOnlyAdminMixin, BrandScopedAdminMixin, admin.ModelAdmin):
    view_role = Role.MANAGER
    list_display = [
        "id",
        "customer_id",
        "status",
        "requested_by_label",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", ScopedBrandFilter]
    readonly_fields = [
        "brand",
        "customer",
        "status",
        "progress",
        "attempts",
        "error",
        "requested_by_kind",
        "requested_by",
        "requested_by_label",
        "reason",
        "created_at",
        "started_at",
        "finished_at",
    ]
    ordering = ["-id"]
    actions = None
