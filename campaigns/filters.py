import django_filters

from .models import Post, PostStatus


class PostFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=PostStatus.choices)
    author = django_filters.NumberFilter(field_name="author_id")
    commercial = django_filters.BooleanFilter()

    class Meta:
        model = Post
        fields = ["status", "author", "commercial"]
