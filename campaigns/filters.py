import django_filters

from .models import Campaign, CampaignStatus, Conversion, ConversionSource, Post, PostStatus


class PostFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PostStatus.choices)
    author = django_filters.NumberFilter(field_name="author_id")
    commercial = django_filters.BooleanFilter()

    class Meta:
        model = Post
        fields = ["status", "author", "commercial"]


class CampaignFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=CampaignStatus.choices)

    class Meta:
        model = Campaign
        fields = ["status"]


class ConversionFilter(django_filters.FilterSet):
    campaign = django_filters.NumberFilter(field_name="campaign_id")
    advocate = django_filters.NumberFilter(field_name="advocate_id")
    buyer = django_filters.NumberFilter(field_name="buyer_id")
    source = django_filters.ChoiceFilter(choices=ConversionSource.choices)
    flagged_for_review = django_filters.BooleanFilter()
    credited = django_filters.BooleanFilter(
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
