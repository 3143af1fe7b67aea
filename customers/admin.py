"""Customer admin: brand-scoped, read-only here, with the customer's strongest ties."""

from django.contrib import admin

from campaigns.admin import BrandScopedAdmin
from interactions.admin import CustomerTiesPanelMixin

from .models import Customer


@admin.register(Customer)
class CustomerAdmin(CustomerTiesPanelMixin, BrandScopedAdmin):
    list_display = ["display_name", "external_id", "kind", "friend_count", "marketing_consent"]
    search_fields = ["display_name", "external_id"]
    readonly_fields = ["friend_count", "created_at", "updated_at"]
    fields = [
        "brand",
        "external_id",
        "display_name",
        "kind",
        "lifecycle_stage",
        "marketing_consent",
        "friend_count",
        "created_at",
        "updated_at",
    ]

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_fields(self, request, obj=None):
        return [*self.fields, *(["strongest_ties"] if obj is not None else [])]
