import django_filters
from django.db.models import Q

from scrm.api.filters import BrandIdFilter, StrictBooleanFilter, StrictFilterSet

from .models import Advocate, AdvocateStatus, Customer, CustomerKind, LifecycleStage, Tier


class CustomerFilter(StrictFilterSet):
    tag = django_filters.CharFilter(method="filter_tag", help_text="Has this tag.")
    lifecycle_stage = django_filters.ChoiceFilter(choices=LifecycleStage.choices)
    kind = django_filters.ChoiceFilter(choices=CustomerKind.choices)
    is_advocate = StrictBooleanFilter(help_text="Is (or is not) a KOC advocate.")
    marketing_consent = StrictBooleanFilter()
    search = django_filters.CharFilter(
        method="filter_search", help_text="Display name or external id contains; phone ends with."
    )

    class Meta:
        model = Customer
        fields = ["tag", "lifecycle_stage", "kind", "is_advocate", "marketing_consent", "search"]

    def filter_tag(self, queryset, name, value):
        return queryset.filter(tags__contains=[value])

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        condition = Q(display_name__icontains=value) | Q(external_id__icontains=value)
        digits = "".join(ch for ch in value if ch.isdigit())
        if len(digits) >= 4:
            condition |= Q(phone__endswith=digits)
        return queryset.filter(condition)


class FriendshipFilter(StrictFilterSet):
    customer = BrandIdFilter(model=Customer, method="filter_customer", help_text="Either end.")
    current = StrictBooleanFilter(
        field_name="ended_at", lookup_expr="isnull", help_text="Only current (or ended) edges."
    )

    def filter_customer(self, queryset, name, value):
        return queryset.filter(Q(customer_low_id=value) | Q(customer_high_id=value))


class AdvocateFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=AdvocateStatus.choices)
    tier = django_filters.ChoiceFilter(choices=Tier.choices)

    class Meta:
        model = Advocate
        fields = ["status", "tier"]
