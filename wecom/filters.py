import django_filters

from customers.models import Customer
from scrm.api.filters import BrandIdFilter, StrictFilterSet, UtcDateTimeFilter

from .models import CallbackEvent, CallbackStatus, ChurnRecord


class ChurnFilter(StrictFilterSet):
    customer = BrandIdFilter(model=Customer, field_name="customer_id")
    brand_account = BrandIdFilter(model=Customer, field_name="brand_account_id")
    user_id = django_filters.CharFilter(help_text="The staff member's WeCom UserID.")
    since = UtcDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="Churned at or after (ISO 8601)."
    )
    until = UtcDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", help_text="Churned before (ISO 8601)."
    )

    class Meta:
        model = ChurnRecord
        fields = ["customer", "brand_account", "user_id", "since", "until"]


class CallbackEventFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=CallbackStatus.choices)
    event = django_filters.CharFilter(help_text="WeCom's Event, e.g. change_external_contact.")
    change_type = django_filters.CharFilter(help_text="WeCom's ChangeType, e.g. del_follow_user.")
    user_id = django_filters.CharFilter(help_text="The staff member's WeCom UserID.")
    external_user_id = django_filters.CharFilter(help_text="The customer's ExternalUserID.")

    class Meta:
        model = CallbackEvent
        fields = ["status", "event", "change_type", "user_id", "external_user_id"]
