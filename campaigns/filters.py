import django_filters

from customers.models import Advocate, Customer
from scrm.api.filters import BrandIdFilter, StrictBooleanFilter, StrictFilterSet

from .models import Campaign, CampaignStatus, Conversion, ConversionSource, Post, PostStatus


class PostFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=PostStatus.choices)
    author = BrandIdFilter(model=Customer, field_name="author_id")
    commercial = StrictBooleanFilter()

    class Meta:
        model = Post
        fields = ["status", "author", "commercial"]


class CampaignFilter(StrictFilterSet):
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices)

    class Meta:
        model = Campaign
        fields = ["status"]


class ConversionFilter(StrictFilterSet):
    campaign = BrandIdFilter(model=Campaign, field_name="campaign_id")
    advocate = BrandIdFilter(model=Advocate, field_name="advocate_id")
    buyer = BrandIdFilter(model=Customer, field_name="buyer_id")
    source = django_filters.ChoiceFilter(choices=ConversionSource.choices)
    flagged_for_review = StrictBooleanFilter()
    credited = StrictBooleanFilter(
        field_name="uncredited_reason", lookup_expr="exact", method="filter_credited"
    )

    class Meta:
        model = Conversion
        fields = ["campaign", "advocate", "buyer", "source", "flagged_for_review", "credited"]

    def filter_credited(self, queryset, name, value):
        return (
            queryset.filter(uncredited_reason="")
            if value
            else queryset.exclude(uncredited_reason="")
        )
