"""Admin for the interaction log and the pair flags (read-only, brand-scoped)."""

from django.contrib import admin

from campaigns.admin import BrandScopedAdmin

from .models import Interaction, Tie


@admin.register(Interaction)
class InteractionAdmin(BrandScopedAdmin):
    list_display = ["id", "event_id", "type", "actor", "target", "post", "occurred_at"]
    list_filter = ["type"]
    search_fields = ["event_id"]
    raw_id_fields = ["actor", "target", "post"]
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Tie)
class TieAdmin(BrandScopedAdmin):
    list_display = ["id", "source", "target", "flag_list", "updated_at"]
    raw_id_fields = ["source", "target"]

    @admin.display(description="Flags")
    def flag_list(self, obj) -> str:
        return ", ".join(obj.flags) or "-"

    def has_change_permission(self, request, obj=None) -> bool:
        return False
