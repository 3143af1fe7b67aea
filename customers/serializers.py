from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .models import (
    Advocate,
    AdvocateStatus,
    Customer,
    CustomerKind,
    Friendship,
    LifecycleStage,
    SourceChannel,
)


def tag_field() -> serializers.CharField:
    return serializers.CharField(max_length=40, allow_blank=False)


class CustomerSerializer(serializers.ModelSerializer):
    """A customer; ``phone`` is shown in full on the detail view and masked in lists."""

    tags = serializers.ListField(child=tag_field(), required=False, max_length=50)
    is_advocate = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "display_name",
            "kind",
            "phone",
            "tags",
            "lifecycle_stage",
            "source_channel",
            "marketing_consent",
            "friend_count",
            "is_advocate",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "friend_count", "is_advocate", "created_at", "updated_at"]
        # Uniqueness is enforced by the service (409), not by a pre-check here.
        validators = []

    def __init__(self, *args, mask_phone: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.mask_phone = mask_phone

    def to_representation(self, instance):
        data = super().to_representation(instance)
        if self.mask_phone:
            data["phone"] = instance.masked_phone
        return data


class CustomerCreateSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=128)
    display_name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=CustomerKind.choices, required=False)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    tags = serializers.ListField(child=tag_field(), required=False, max_length=50)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    source_channel = serializers.ChoiceField(choices=SourceChannel.choices, required=False)
    marketing_consent = serializers.BooleanField(required=False)


class CustomerUpdateSerializer(CustomerCreateSerializer):
    external_id = serializers.CharField(max_length=128, required=False)


class FriendSerializer(serializers.ModelSerializer):
    friends_since = serializers.DateTimeField(read_only=True)
    is_advocate = serializers.BooleanField(read_only=True)
    strength = serializers.SerializerMethodField()

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_id",
            "display_name",
            "kind",
            "friend_count",
            "is_advocate",
            "friends_since",
            "strength",
        ]

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_strength(self, obj) -> float | None:
        """Tie strength 0..1 with the customer whose friends are listed (0 before any signal)."""
        return getattr(obj, "strength", 0.0)


class FriendshipSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_low_id", read_only=True)
    friend = serializers.IntegerField(source="customer_high_id", read_only=True)
    is_current = serializers.BooleanField(read_only=True)

    class Meta:
        model = Friendship
        fields = [
            "id",
            "customer",
            "friend",
            "since",
            "source",
            "is_current",
            "ended_at",
            "ended_by",
            "end_reason",
        ]
        read_only_fields = fields


class FriendshipCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1)
    friend = serializers.IntegerField(min_value=1)
    since = serializers.DateTimeField(required=False)
    source = serializers.ChoiceField(
        choices=Friendship._meta.get_field("source").choices, required=False
    )


class AdvocateSerializer(serializers.ModelSerializer):
    display_name = serializers.CharField(source="customer.display_name", read_only=True)
    friend_count = serializers.IntegerField(source="customer.friend_count", read_only=True)

    class Meta:
        model = Advocate
        fields = [
            "id",
            "customer",
            "display_name",
            "friend_count",
            "status",
            "status_reason",
            "tier",
            "referral_code",
            "influence_score",
            "promoted_at",
            "status_changed_at",
            "notes",
        ]
        read_only_fields = fields


class AdvocateCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class AdvocateUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AdvocateStatus.choices, required=False)
    reason = serializers.CharField(required=False, allow_blank=True, max_length=255)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=2000)


class CustomerTokenRequestSerializer(serializers.Serializer):
    external_id = serializers.CharField(max_length=128)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    customer = serializers.IntegerField()
