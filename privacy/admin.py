"""Admin: the audit trail (owners, read only, never editable or deletable), erasure
requests (read only; requests are made through the API) and retention policies."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import admin

from scrm.tenancy.admin_scoping import BrandScopedAdminMixin, ScopedBrandFilter
from scrm.tenancy.models import Role

from .models import AuditEntry, ErasureRequest, RetentionPolicy
from .retention import retention_policy_set


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


class RetentionPolicyForm(forms.ModelForm):
    class Meta:
        model = RetentionPolicy
        fields = ["brand", "raw_interaction_days"]

    def clean_raw_interaction_days(self):
        days = self.cleaned_data.get("raw_interaction_days")
        minimum = settings.SCRM["RETENTION_MIN_DAYS"]
        if days is not None and days < minimum:
            raise forms.ValidationError(f"At least {minimum} days, or empty to keep everything.")
        return days


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """A brand's retention period for raw interactions (owners change it)."""

    view_role = Role.MANAGER
    add_role = Role.OWNER
    change_role = Role.OWNER
    delete_role = Role.OWNER
    form = RetentionPolicyForm
    list_display = ["brand", "raw_interaction_days", "last_folded_at", "updated_at"]
    list_filter = [ScopedBrandFilter]
    readonly_fields = ["last_folded_at", "last_fold", "updated_at"]

    def save_model(self, request, obj, form, change):
        saved = retention_policy_set(
            brand=form.cleaned_data["brand"] if not change else obj.brand,
            raw_interaction_days=form.cleaned_data.get("raw_interaction_days"),
        )
        obj.pk = saved.pk
