"""Request and response bodies of campaigns, enrollments, reports and conversions."""

from __future__ import annotations

from rest_framework import serializers

from .models import Campaign, CampaignStatus, Conversion, Enrollment, SampleShipment
from .serializers import StrictCharField


def _money(max_digits: int = 14, **kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=max_digits, decimal_places=2, **kwargs)


class CampaignSerializer(serializers.ModelSerializer):
    effective_disclosure_label = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "goal",
            "starts_at",
            "ends_at",
            "budget",
            "currency",
            "products",
            "brief",
            "disclosure_label",
            "effective_disclosure_label",
            "advocate_fee",
            "status",
            "activated_at",
            "ended_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_effective_disclosure_label(self, obj) -> str:
        """The label its posts carry: the campaign's, else the brand's."""
        return obj.disclosure_label or obj.brand.disclosure_label


class CampaignCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=120)
    goal = StrictCharField(max_length=255, required=False, allow_blank=True)
    starts_at = serializers.DateTimeField()
    ends_at = serializers.DateTimeField()
    budget = _money(min_value=0, required=False)
    currency = StrictCharField(
        max_length=8, required=False, help_text="ISO 4217 code, e.g. CNY (the default)."
    )
    products = serializers.JSONField(required=False, help_text="A list of SKUs or names.")
    brief = StrictCharField(required=False, allow_blank=True, max_length=20_000)
    disclosure_label = StrictCharField(
        max_length=40, required=False, allow_blank=True, help_text="Blank: the brand's label."
    )
    advocate_fee = _money(12, min_value=0, required=False)


class CampaignUpdateSerializer(CampaignCreateSerializer):
    name = StrictCharField(max_length=120, required=False)
    starts_at = serializers.DateTimeField(required=False)
    ends_at = serializers.DateTimeField(required=False)
    status = serializers.ChoiceField(
        choices=CampaignStatus.choices, required=False, help_text="draft → active → ended."
    )


class SampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = SampleShipment
        fields = ["id", "product", "cost", "shipped_at", "received_at", "reviewed_at"]
        read_only_fields = ["id"]


class SampleInputSerializer(serializers.Serializer):
    product = StrictCharField(max_length=120)
    cost = _money(12, min_value=0, required=False)
    shipped_at = serializers.DateTimeField(required=False, allow_null=True)
    received_at = serializers.DateTimeField(required=False, allow_null=True)
    reviewed_at = serializers.DateTimeField(required=False, allow_null=True)


class SampleUpdateSerializer(SampleInputSerializer):
    product = StrictCharField(max_length=120, required=False)


class EnrollmentSerializer(serializers.ModelSerializer):
    advocate_name = serializers.CharField(source="advocate.customer.display_name")
    customer = serializers.IntegerField(source="advocate.customer_id")
    samples = SampleSerializer(many=True)

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "campaign",
            "advocate",
            "customer",
            "advocate_name",
            "code",
            "fee",
            "tier",
            "enrolled_at",
            "samples",
        ]
        read_only_fields = fields


class EnrollmentCreateSerializer(serializers.Serializer):
    advocate = serializers.IntegerField(min_value=1)
    fee = _money(12, min_value=0, required=False, help_text="Default: the campaign's fee.")
    samples = SampleInputSerializer(many=True, required=False)


class ConversionSerializer(serializers.ModelSerializer):
    credited = serializers.SerializerMethodField()

    class Meta:
        model = Conversion
        fields = [
            "id",
            "order_id",
            "amount",
            "currency",
            "discount",
            "buyer",
            "buyer_external_id",
            "source",
            "code",
            "credited",
            "uncredited_reason",
            "advocate",
            "campaign",
            "enrollment",
            "post",
            "sharer",
            "tie_strength_at_purchase",
            "flagged_for_review",
            "flag_reason",
            "interaction_event_id",
            "occurred_at",
            "created_at",
        ]
        read_only_fields = fields

    def get_credited(self, obj) -> bool:
        return obj.advocate_id is not None or obj.post_id is not None


class ConversionCreateSerializer(serializers.Serializer):
    order_id = StrictCharField(max_length=64, help_text="Unique per brand: the idempotency key.")
    amount = _money(help_text="Greater than zero, at most 2 decimals.")
    currency = StrictCharField(max_length=8, help_text="ISO 4217, e.g. CNY.")
    buyer = serializers.IntegerField(min_value=1, required=False, help_text="Customer id.")
    buyer_external_id = StrictCharField(max_length=128, required=False, allow_blank=True)
    referral_code = StrictCharField(max_length=32, required=False, allow_blank=True)
    share_token = StrictCharField(max_length=1024, required=False, allow_blank=True)
    coupon_code = StrictCharField(
        max_length=32, required=False, allow_blank=True, help_text="Entered at a store's till."
    )
    discount = _money(12, min_value=0, required=False, help_text="Coupon discount granted.")
    occurred_at = serializers.DateTimeField(required=False)


class ConversionAnswerSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["created", "duplicate"])
    conversion = ConversionSerializer()


class ShareLinkSerializer(serializers.Serializer):
    token = serializers.CharField()
    post = serializers.IntegerField(source="post_id")
    sharer = serializers.IntegerField(source="sharer_id")
    expires_at = serializers.DateTimeField()


class ReportMetricsSerializer(serializers.Serializer):
    reach = serializers.IntegerField()
    impressions = serializers.IntegerField()
    engagements = serializers.IntegerField()
    engagement_rate = serializers.FloatField()
    conversions = serializers.IntegerField()
    conversion_rate = serializers.FloatField()
    revenue = _money()
    cost = _money()
    roi = serializers.FloatField(allow_null=True)


class ReportAdvocateSerializer(ReportMetricsSerializer):
    enrollment = serializers.IntegerField()
    advocate = serializers.IntegerField()
    name = serializers.CharField()
    code = serializers.CharField()
    tier = serializers.CharField()
    fee = _money()
    samples = serializers.DictField(child=serializers.IntegerField())


class ReportTierSerializer(ReportMetricsSerializer):
    tier = serializers.CharField()
    advocates = serializers.IntegerField()


class ReportBandSerializer(serializers.Serializer):
    band = serializers.CharField()
    conversions = serializers.IntegerField()
    share = serializers.FloatField()
    revenue = _money()


class ReportDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    conversions = serializers.IntegerField()
    revenue = _money()


class CampaignReportSerializer(serializers.Serializer):
    campaign = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.CharField()
    currency = serializers.CharField()
    generated_at = serializers.DateTimeField()
    totals = ReportMetricsSerializer()
    by_advocate = ReportAdvocateSerializer(many=True)
    by_tier = ReportTierSerializer(many=True)
    by_tie_band = ReportBandSerializer(many=True)
    conversions_over_time = ReportDaySerializer(many=True)
    revenue_by_currency = serializers.DictField(child=_money())
