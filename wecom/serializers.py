from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import CallbackEvent, ChurnRecord

POST_EXCERPT_CHARS = 140


class WeComStaffSerializer(serializers.Serializer):
    user_id = serializers.CharField(max_length=64, help_text="The staff member's WeCom UserID.")
    brand_account = serializers.IntegerField(
        min_value=1, help_text="Id of the customer (kind brand_account) that stands for them."
    )


class WeComConfigSerializer(serializers.Serializer):
    """The brand's WeCom corp. ``token`` and ``encoding_aes_key`` are write-only (stored
    encrypted; answered as ``…`` + their last four characters); left out of a PUT once set,
    the stored ones are kept."""

    configured = serializers.BooleanField(read_only=True)
    corp_id = serializers.CharField(max_length=64)
    token = serializers.CharField(
        max_length=32, write_only=True, required=False, help_text="The callback Token."
    )
    encoding_aes_key = serializers.CharField(
        max_length=43, min_length=43, write_only=True, required=False,
        help_text="The 43-character EncodingAESKey.",
    )  # fmt: skip
    token_hint = serializers.CharField(read_only=True)
    encoding_aes_key_hint = serializers.CharField(read_only=True)
    agent_id = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")
    suite_id = serializers.CharField(max_length=64, required=False, allow_blank=True, default="")
    is_active = serializers.BooleanField(required=False, default=True)
    staff = WeComStaffSerializer(many=True, required=False)
    callback_url = serializers.CharField(
        read_only=True, help_text="Enter it in WeCom's console as the callback URL."
    )
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class ChurnCustomerSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    external_id = serializers.CharField()
    display_name = serializers.CharField()
    lifecycle_stage = serializers.CharField()


class SeenPostSerializer(serializers.Serializer):
    post = serializers.IntegerField(source="post_id")
    author = serializers.IntegerField(source="post.author_id")
    text = serializers.SerializerMethodField()
    commercial = serializers.BooleanField(source="post.commercial")
    campaign = serializers.IntegerField(source="post.campaign_id", allow_null=True)
    delivered_at = serializers.DateTimeField(source="created_at")

    def get_text(self, delivery) -> str:
        return delivery.post.text[:POST_EXCERPT_CHARS]


class ChurnSerializer(serializers.ModelSerializer):
    customer = ChurnCustomerSerializer()
    brand_account = ChurnCustomerSerializer()
    seen_posts = serializers.SerializerMethodField(
        help_text="Posts delivered to the customer in the 7 days before they left."
    )
    seen_commercial = serializers.SerializerMethodField()

    class Meta:
        model = ChurnRecord
        fields = [
            "id",
            "customer",
            "brand_account",
            "user_id",
            "occurred_at",
            "friends_days",
            "seen_commercial",
            "seen_posts",
        ]

    def _seen(self, record):
        return self.context.get("seen", {}).get(record.pk, [])

    @extend_schema_field(SeenPostSerializer(many=True))
    def get_seen_posts(self, record) -> list[dict]:
        return SeenPostSerializer(self._seen(record), many=True).data

    def get_seen_commercial(self, record) -> int:
        return sum(1 for d in self._seen(record) if d.post.commercial)


class CallbackEventSerializer(serializers.ModelSerializer):
    created_at = serializers.DateTimeField(
        source="created_at_wecom", allow_null=True, help_text="WeCom's CreateTime."
    )

    class Meta:
        model = CallbackEvent
        fields = [
            "id",
            "event",
            "change_type",
            "user_id",
            "external_user_id",
            "chat_id",
            "state",
            "source",
            "created_at",
            "received_at",
            "deliveries",
            "status",
            "applied_at",
            "result",
            "error",
            "payload",
        ]
