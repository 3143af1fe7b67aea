"""Admin of the WeCom connector: brand-scoped; secrets are write-only; callbacks, contacts and
churn alerts are read-only ledgers."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.html import format_html_join

from campaigns.admin import ReadOnlyScopedAdmin
from customers.models import CustomerKind
from scrm.tenancy.admin_scoping import BrandScopedAdminMixin
from scrm.tenancy.models import Role

from . import selectors
from .models import (
    CallbackEvent,
    ChurnRecord,
    ContactChannel,
    WeComConfig,
    WeComContact,
    WeComStaff,
)
from .services import config as config_services


class WeComConfigForm(forms.ModelForm):
    token = forms.CharField(
        required=False,
        max_length=32,
        widget=forms.PasswordInput(render_value=False),
        help_text="The callback Token. Leave blank to keep the stored one.",
    )
    encoding_aes_key = forms.CharField(
        required=False,
        max_length=43,
        widget=forms.PasswordInput(render_value=False),
        help_text="The 43-character EncodingAESKey. Leave blank to keep the stored one.",
    )

    class Meta:
        model = WeComConfig
        fields = ["brand", "corp_id", "agent_id", "suite_id", "is_active"]

    def clean(self):
        cleaned = super().clean()
        adding = self.instance.pk is None
        for name, check in (
            ("token", config_services.token_validate),
            ("encoding_aes_key", config_services.encoding_aes_key_validate),
        ):
            value = cleaned.get(name)
            if not value:
                if adding:
                    self.add_error(name, "Required when WeCom is first configured.")
                continue
            try:
                cleaned[name] = check(value)
            except ValidationError as exc:
                self.add_error(name, exc.message_dict.get(name, exc.messages))
        return cleaned


class WeComStaffForm(forms.ModelForm):
    class Meta:
        model = WeComStaff
        fields = ["brand", "user_id", "brand_account"]

    def clean(self):
        cleaned = super().clean()
        brand = cleaned.get("brand") or getattr(self.instance, "brand", None)
        account = cleaned.get("brand_account")
        if account is not None and brand is not None:
            if account.brand_id != brand.pk:
                self.add_error("brand_account", "Must be a brand account of this brand.")
            elif account.kind != CustomerKind.BRAND_ACCOUNT:
                self.add_error("brand_account", "Must be a customer of kind brand account.")
        return cleaned


@admin.register(WeComStaff)
class WeComStaffAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """Which WeCom UserID is which brand account (unmapped UserIDs get one on first event)."""

    form = WeComStaffForm
    view_role = Role.ANALYST
    add_role = Role.MANAGER
    change_role = Role.MANAGER
    delete_role = Role.MANAGER
    list_display = ["user_id", "brand_account", "brand", "created_at"]
    list_select_related = ["brand_account", "brand"]
    search_fields = ["user_id", "brand_account__display_name"]

    def limit_related_queryset(self, db_field, request, queryset):
        if db_field.name == "brand_account":
            return queryset.filter(kind=CustomerKind.BRAND_ACCOUNT)
        return queryset


@admin.register(WeComConfig)
class WeComConfigAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    form = WeComConfigForm
    view_role = Role.ANALYST
    add_role = Role.MANAGER
    change_role = Role.MANAGER
    delete_role = Role.OWNER
    list_display = ["brand", "corp_id", "token_hint", "aes_key_hint", "is_active", "updated_at"]
    readonly_fields = ["token_hint", "aes_key_hint", "updated_at", "updated_by"]

    def get_fields(self, request, obj=None):
        return [
            "brand",
            "corp_id",
            "token",
            "token_hint",
            "encoding_aes_key",
            "aes_key_hint",
            "agent_id",
            "suite_id",
            "is_active",
            "updated_at",
            "updated_by",
        ]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        saved = config_services.wecom_config_update(
            brand_id=obj.brand_id,
            corp_id=obj.corp_id,
            token=data.get("token") or None,
            encoding_aes_key=data.get("encoding_aes_key") or None,
            agent_id=obj.agent_id,
            suite_id=obj.suite_id,
            is_active=obj.is_active,
            user_id=request.user.pk,
        )
        obj.pk = saved.pk
        obj._state.adding = False
        obj.token_hint, obj.aes_key_hint = saved.token_hint, saved.aes_key_hint


@admin.register(ContactChannel)
class ContactChannelAdmin(BrandScopedAdminMixin, admin.ModelAdmin):
    """Contact-me channel codes: the ``state`` WeCom echoes on add credits the channel."""

    view_role = Role.ANALYST
    add_role = Role.OPERATOR
    change_role = Role.OPERATOR
    delete_role = Role.MANAGER
    list_display = ["name", "state", "campaign", "advocate", "is_active", "contacts_count"]
    list_filter = ["is_active"]
    search_fields = ["name", "state"]
    raw_id_fields = ["campaign", "advocate"]

    @admin.display(description="contacts")
    def contacts_count(self, obj) -> int:
        return obj.contacts.count()


@admin.register(CallbackEvent)
class CallbackEventAdmin(ReadOnlyScopedAdmin):
    list_display = [
        "id",
        "event",
        "change_type",
        "user_id",
        "external_user_id",
        "status",
        "deliveries",
        "created_at_wecom",
        "received_at",
    ]
    list_filter = ["status", "event", "change_type"]
    search_fields = ["user_id", "external_user_id", "chat_id", "dedupe_key"]
    show_full_result_count = False


@admin.register(WeComContact)
class WeComContactAdmin(ReadOnlyScopedAdmin):
    list_display = ["id", "customer", "user_id", "half", "state", "channel", "added_at", "ended_at"]
    list_filter = ["end_reason", "half", "channel"]
    list_select_related = ["customer", "channel"]
    search_fields = ["user_id", "customer__external_id", "state"]
    raw_id_fields = ["customer", "brand_account", "advocate", "campaign", "channel"]


class ChurnedWithinFilter(admin.SimpleListFilter):
    title = "churned"
    parameter_name = "within"

    def lookups(self, request, model_admin):
        return [("1", "today"), ("7", "past 7 days"), ("30", "past 30 days")]

    def queryset(self, request, queryset):
        value = self.value()
        if value not in {"1", "7", "30"}:
            return queryset
        from django.utils import timezone

        return queryset.filter(occurred_at__gte=timezone.now() - timedelta(days=int(value)))


@admin.register(ChurnRecord)
class ChurnRecordAdmin(ReadOnlyScopedAdmin):
    """Churn alerts: who deleted which brand account, and what they saw the week before."""

    list_display = ["id", "customer", "brand_account", "user_id", "occurred_at", "friends_days"]
    list_filter = [ChurnedWithinFilter, "user_id"]
    list_select_related = ["customer", "brand_account"]
    search_fields = ["customer__external_id", "customer__display_name", "user_id"]
    raw_id_fields = ["customer", "brand_account", "callback"]
    date_hierarchy = "occurred_at"
    readonly_fields = ["seen_posts"]

    @admin.display(description="posts seen in the days before")
    def seen_posts(self, obj):
        if obj is None or obj.pk is None or obj.occurred_at is None:
            return "—"
        seen = selectors.churn_seen_posts(records=[obj]).get(obj.pk, [])
        if not seen:
            return "—"
        days = settings.SCRM["CHURN_SEEN_POSTS_DAYS"]
        rows = format_html_join(
            "",
            "<li>{} · post {} · {}{}</li>",
            (
                (
                    d.created_at.strftime("%Y-%m-%d %H:%M"),
                    d.post_id,
                    d.post.text[:80],
                    " (commercial)" if d.post.commercial else "",
                )
                for d in seen
            ),
        )
        return format_html_join("", "<p>{} in {} days:</p><ul>{}</ul>", [(len(seen), days, rows)])
