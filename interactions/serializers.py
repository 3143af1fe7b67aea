from rest_framework import serializers

from scrm.api.rows import FastListSerializer

from .models import Interaction, InteractionType


class InteractionSerializer(serializers.ModelSerializer):
    class Meta:
        list_serializer_class = FastListSerializer
        model = Interaction
        fields = [
            "id",
            "event_id",
            "type",
            "actor",
            "target",
            "post",
            "forwarded_from",
            "chain_depth",
            "occurred_at",
            "received_at",
            "payload",
        ]
        read_only_fields = fields


class EventSerializer(serializers.Serializer):
    """An incoming event (documentation only: the hot path validates by hand)."""

    event_id = serializers.CharField(max_length=64, help_text="Idempotency key, unique per brand.")
    type = serializers.ChoiceField(choices=InteractionType.choices)
    actor = serializers.IntegerField(required=False, help_text="Defaults to a customer token's.")
    target = serializers.IntegerField(
        required=False, help_text="May be omitted when post is given: the post's author."
    )
    post = serializers.IntegerField(required=False, allow_null=True)
    occurred_at = serializers.DateTimeField()
    payload = serializers.DictField(required=False)
    forwarded_from = serializers.CharField(
        required=False,
        help_text="event_id of the forward through which a non-recipient reached the post.",
    )


class BatchRequestSerializer(serializers.Serializer):
    events = EventSerializer(many=True)


class EventErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    field = serializers.CharField()
    message = serializers.CharField()


class EventResultSerializer(serializers.Serializer):
    event_id = serializers.CharField(allow_null=True)
    status = serializers.ChoiceField(choices=["created", "duplicate", "rejected"])
    error = EventErrorSerializer(allow_null=True)


class BatchResponseSerializer(serializers.Serializer):
    results = EventResultSerializer(many=True)


class SingleResultSerializer(EventResultSerializer):
    id = serializers.IntegerField(allow_null=True)
