from rest_framework import serializers

from customers.models import ConsentPurpose, ConsentRecord, ConsentSource
from scrm.api.fields import StrictCharField

from .models import AuditEntry, ErasureRequest


class AuditEntrySerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True, allow_null=True)
    actor_user = serializers.IntegerField(source="actor_user_id", read_only=True, allow_null=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "at",
            "action",
            "customer",
            "actor_kind",
            "actor_user",
            "actor_label",
            "details",
        ]
        read_only_fields = fields


class ErasureRequestSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)

    class Meta:
        model = ErasureRequest
        fields = [
            "id",
            "customer",
            "status",
            "progress",
            "attempts",
            "error",
            "requested_by_kind",
            "requested_by_label",
            "reason",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class ErasureCreateSerializer(serializers.Serializer):
    reason = StrictCharField(max_length=255, required=False, allow_blank=True)


class ConsentRecordSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_id", read_only=True)

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "customer",
            "purpose",
            "granted",
            "source",
            "text_version",
            "recorded_at",
            "recorded_by_label",
            "created_at",
        ]
        read_only_fields = fields


class ConsentChangeSerializer(serializers.Serializer):
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    granted = serializers.BooleanField()
    source = serializers.ChoiceField(
        choices=[c for c in ConsentSource.choices if c[0] != ConsentSource.ERASURE],
        required=False,
        help_text="Where consent was given; a customer token always records `customer`.",
    )
    text_version = StrictCharField(max_length=64, required=False, allow_blank=True)
    recorded_at = serializers.DateTimeField(
        required=False, help_text="When the person consented (default: now)."
    )
