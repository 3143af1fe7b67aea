import django_filters

from customers.models import Customer
from scrm.api.filters import BrandIdFilter, StrictFilterSet

from .models import ChurnRecord


class ChurnFilter(StrictFilterSet):
    customer = BrandIdFilter(model=Customer, field_name="customer_id")
    brand_account = BrandIdFilter(model=Customer, field_name="brand_account_id")
    user_id = django_filters.CharFilter(help_text="The staff member's WeCom UserID.")
    since = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="gte", help_text="Churned at or after (ISO 8601)."
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="occurred_at", lookup_expr="lt", help_text="Churned before (ISO 8601)."
    )

    class Meta:
        model = ChurnRecord
        fields = ["customer", "brand_account", "user_id", "since", "until"]
