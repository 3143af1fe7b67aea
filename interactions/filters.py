import django_filters

from campaigns.models import Post
from customers.models import Customer
from scrm.api.filters import BrandIdFilter, StrictFilterSet

from .models import Interaction, InteractionType


class InteractionFilter(StrictFilterSet):
    type = django_filters.ChoiceFilter(choices=InteractionType.choices)
    actor = BrandIdFilter(model=Customer, field_name="actor_id")
    target = BrandIdFilter(model=Customer, field_name="target_id")
    post = BrandIdFilter(model=Post, field_name="post_id")

    class Meta:
        model = Interaction
        fields = ["type", "actor", "target", "post"]
