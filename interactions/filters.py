import django_filters

from .models import Interaction, InteractionType


class InteractionFilter(django_filters.FilterSet):
    type = django_filters.ChoiceFilter(choices=InteractionType.choices)
    actor = django_filters.NumberFilter(field_name="actor_id")
    target = django_filters.NumberFilter(field_name="target_id")
    post = django_filters.NumberFilter(field_name="post_id")

    class Meta:
        model = Interaction
        fields = ["type", "actor", "target", "post"]
