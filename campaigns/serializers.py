from django.conf import settings
from rest_framework import serializers

from scrm.api.fields import StrictCharField
from scrm.api.rows import FastListSerializer

from .models import Post, PostStatus


class PostSerializer(serializers.ModelSerializer):
    campaign = serializers.IntegerField(source="campaign_id", read_only=True, allow_null=True)
    author_name = serializers.CharField(source="author.display_name", read_only=True)

    class Meta:
        list_serializer_class = FastListSerializer
        model = Post
        fields = [
            "id",
            "author",
            "author_name",
            "text",
            "media",
            "commercial",
            "campaign",
            "status",
            "deferred_until",
            "rejection_reasons",
            "created_at",
            "updated_at",
            "published_at",
            "withdrawn_at",
        ]
        read_only_fields = fields


class PostStatsSerializer(serializers.Serializer):
    deliveries = serializers.IntegerField()
    delivered = serializers.IntegerField()
    suppressed = serializers.DictField(child=serializers.IntegerField())
    views = serializers.IntegerField()
    clicks = serializers.IntegerField()
    likes = serializers.IntegerField()
    comments = serializers.IntegerField()
    replies = serializers.IntegerField()
    forwards = serializers.IntegerField()
    engagement_rate = serializers.FloatField()


class PostDetailSerializer(PostSerializer):
    stats = PostStatsSerializer(read_only=True)

    class Meta(PostSerializer.Meta):
        fields = [*PostSerializer.Meta.fields, "stats"]
        read_only_fields = fields


def _text_field(required: bool) -> serializers.CharField:
    return StrictCharField(
        required=required,
        allow_blank=True,
        trim_whitespace=False,
        max_length=settings.SCRM["POST_TEXT_MAX_CHARS"],
    )


class PostCreateSerializer(serializers.Serializer):
    author = serializers.IntegerField(
        min_value=1, required=False, help_text="Defaults to the customer of a customer token."
    )
    text = _text_field(required=False)
    media = serializers.JSONField(
        required=False, help_text="Up to 9 images, or 1 video, or 1 link: [{type, url}]."
    )
    commercial = serializers.BooleanField(required=False, default=False)
    campaign = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class PostUpdateSerializer(serializers.Serializer):
    text = _text_field(required=False)
    media = serializers.JSONField(required=False)
    commercial = serializers.BooleanField(required=False)
    campaign = serializers.IntegerField(min_value=1, required=False, allow_null=True)


class DecisionReasonSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The rule, e.g. sender_daily_cap, quiet_hours.")
    message = serializers.CharField()
    data = serializers.DictField(help_text="The rule's numbers.")


class PublishAnswerSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=[PostStatus.PUBLISHED, PostStatus.DEFERRED, PostStatus.REJECTED]
    )
    reasons = DecisionReasonSerializer(many=True)
    delivered = serializers.IntegerField()
    suppressed = serializers.DictField(child=serializers.IntegerField())
    deferred_until = serializers.DateTimeField(allow_null=True)


class FeedAuthorSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    display_name = serializers.CharField()


class FeedItemSerializer(serializers.Serializer):
    """One feed entry: the post as the viewer sees it, with engagement counts."""

    delivery = serializers.IntegerField(source="id")
    post = serializers.IntegerField(source="post_id")
    author = FeedAuthorSerializer(source="post.author")
    text = serializers.CharField(source="post.text")
    media = serializers.JSONField(source="post.media")
    commercial = serializers.BooleanField(source="post.commercial")
    published_at = serializers.DateTimeField(source="post.published_at")
    delivered_at = serializers.DateTimeField(source="created_at")
    likes = serializers.SerializerMethodField()
    comments = serializers.SerializerMethodField()
    forwards = serializers.SerializerMethodField()
    liked_by_me = serializers.SerializerMethodField()

    class Meta:
        list_serializer_class = FastListSerializer

    def _counts(self, obj) -> dict:
        return self.context["engagement"][obj.post_id]

    def get_likes(self, obj) -> int:
        return self._counts(obj)["likes"]

    def get_comments(self, obj) -> int:
        return self._counts(obj)["comments"]

    def get_forwards(self, obj) -> int:
        return self._counts(obj)["forwards"]

    def get_liked_by_me(self, obj) -> bool:
        return self._counts(obj)["liked_by_me"]


class FatiguePolicySerializer(serializers.Serializer):
    """A brand's fatigue rules (SPEC "Fatigue rules"). Validation is the policy's own
    (``FatiguePolicy.from_dict``); this serializer documents the shape."""

    time_zone = serializers.CharField(help_text="IANA time zone; defaults to the brand's.")
    sender_daily_cap = serializers.IntegerField(min_value=0, max_value=1000)
    sender_weekly_cap = serializers.IntegerField(min_value=0, max_value=1000)
    sender_min_gap_hours = serializers.FloatField(min_value=0, max_value=72)
    sender_commercial_share_max = serializers.FloatField(min_value=0, max_value=1)
    quiet_hours_start = serializers.CharField(help_text="HH:MM, brand time zone")
    quiet_hours_end = serializers.CharField(help_text="HH:MM, brand time zone")
    recipient_daily_cap = serializers.IntegerField(min_value=0, max_value=100)
    recipient_weekly_cap = serializers.IntegerField(min_value=0, max_value=100)
    window_days = serializers.IntegerField(min_value=1, max_value=31)
    cooldown_days = serializers.DictField(
        child=serializers.IntegerField(allow_null=True, min_value=0, max_value=3650),
        help_text="block, report, mute_author, unfriend, hide_post → days (null: for good).",
    )
    backoff_after_ignored = serializers.IntegerField(min_value=1, max_value=100)
    backoff_base_days = serializers.FloatField(min_value=0, max_value=365)
    backoff_max_days = serializers.FloatField(min_value=0, max_value=365)
    health_halve_rate = serializers.FloatField(min_value=0, max_value=1)
    health_pause_rate = serializers.FloatField(min_value=0, max_value=1)
    enabled_rules = serializers.ListField(
        child=serializers.CharField(), help_text="Rules switched on."
    )
    brand_account_rules = serializers.ListField(
        child=serializers.CharField(), help_text="Rules that also bind brand accounts."
    )
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)
