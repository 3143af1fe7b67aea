from rest_framework import serializers

from interactions.selectors import TIE_FLAG_NAMES
from scrm.api.fields import StrictCharField
from scrm.api.rows import FastListSerializer, RowFinishing

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
    return StrictCharField(max_length=40, allow_blank=False)


class ConsentStateSerializer(serializers.Serializer):
    """The customer's current consent per purpose (history: ``customers/{id}/consents/``)."""

    commercial_posts = serializers.BooleanField(
        source="marketing_consent", help_text="Same as `marketing_consent`."
    )
    mass_messages = serializers.BooleanField(source="consent_mass_messages")
    profiling = serializers.BooleanField(source="consent_profiling")


class CustomerSerializer(RowFinishing, serializers.ModelSerializer):
    """A customer; ``phone`` is shown in full on the detail view and masked in lists.

    ``marketing_consent`` is the consent to commercial posts (``consents.commercial_posts``)."""

    tags = serializers.ListField(child=tag_field(), required=False, max_length=50)
    is_advocate = serializers.BooleanField(read_only=True, default=False)
    consents = ConsentStateSerializer(source="*", read_only=True)

    class Meta:
        list_serializer_class = FastListSerializer
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
            "consents",
            "consent_updated_at",
            "friend_count",
            "is_advocate",
            "erased_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "friend_count",
            "is_advocate",
            "consent_updated_at",
            "erased_at",
            "created_at",
            "updated_at",
        ]
        # Uniqueness is enforced by the service (409), not by a pre-check here.
        validators = []

    def __init__(self, *args, mask_phone: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.mask_phone = mask_phone

    def finish_row(self, instance, data: dict) -> dict:
        if self.mask_phone:
            data["phone"] = instance.masked_phone
        return data


class CustomerCreateSerializer(serializers.Serializer):
    external_id = StrictCharField(max_length=128)
    display_name = StrictCharField(max_length=120, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=CustomerKind.choices, required=False)
    phone = StrictCharField(max_length=32, required=False, allow_blank=True)
    tags = serializers.ListField(child=tag_field(), required=False, max_length=50)
    lifecycle_stage = serializers.ChoiceField(choices=LifecycleStage.choices, required=False)
    source_channel = serializers.ChoiceField(choices=SourceChannel.choices, required=False)
    marketing_consent = serializers.BooleanField(required=False)


class CustomerUpdateSerializer(CustomerCreateSerializer):
    external_id = StrictCharField(max_length=128, required=False)


class FriendSerializer(serializers.ModelSerializer):
    friends_since = serializers.DateTimeField(read_only=True)
    is_advocate = serializers.BooleanField(read_only=True)
    strength = serializers.FloatField(
        read_only=True, help_text="Tie strength 0..1 with the customer (0 before any signal)."
    )

    class Meta:
        list_serializer_class = FastListSerializer
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


class FriendshipSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="customer_low_id", read_only=True)
    friend = serializers.IntegerField(source="customer_high_id", read_only=True)
    is_current = serializers.BooleanField(read_only=True)

    class Meta:
        list_serializer_class = FastListSerializer
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
        list_serializer_class = FastListSerializer
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
    notes = StrictCharField(required=False, allow_blank=True, max_length=2000)


class AdvocateUpdateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=AdvocateStatus.choices, required=False)
    reason = StrictCharField(required=False, allow_blank=True, max_length=255)
    notes = StrictCharField(required=False, allow_blank=True, max_length=2000)


class CustomerTokenRequestSerializer(serializers.Serializer):
    external_id = StrictCharField(max_length=128)


class TokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    customer = serializers.IntegerField()


# --- ties, leaderboard, candidates ----------------------------------------------------------


class TieComponentsSerializer(serializers.Serializer):
    """The parts of a tie's strength decayed to ``as_of`` (``interactions.scoring.explain``)."""

    strength_now = serializers.FloatField(help_text="Strength recomputed from the parts now.")
    affinity_out = serializers.FloatField(help_text="A(customer→other) decayed to now.")
    affinity_in = serializers.FloatField(help_text="A(other→customer) decayed to now.")
    reciprocity = serializers.FloatField(help_text="0.8 + 0.2·min/max of the two affinities.")
    intensity = serializers.FloatField(help_text="(A_out + A_in)·reciprocity.")
    kappa = serializers.FloatField(help_text="The brand's κ (75th percentile of intensity).")
    intensity_term = serializers.FloatField(
        help_text="Strength of the interactions alone: 1 − (1 + c·I/κ)^(−p) (½ at I = κ)."
    )
    friend_days = serializers.FloatField(help_text="Days of the current friendship (0: none).")
    duration_factor = serializers.FloatField(
        help_text="1 + DURATION_WEIGHT·(1 − e^(−days/DURATION_SCALE_DAYS)): scales I."
    )
    duration_term = serializers.FloatField(help_text="What the friendship's duration adds.")
    jaccard = serializers.FloatField(help_text="Jaccard of the two friend sets.")
    mutual_factor = serializers.FloatField(help_text="1 + MUTUAL_WEIGHT·Jaccard: scales I.")
    mutual_term = serializers.FloatField(help_text="What mutual friends add.")
    evidence = serializers.FloatField(
        help_text="E = I·duration_factor·mutual_factor; strength = 1 − (1 + c·E/κ)^(−p)."
    )
    by_type = serializers.DictField(
        child=serializers.FloatField(), help_text="Affinity by interaction type, both ways."
    )
    by_type_out = serializers.DictField(child=serializers.FloatField())
    by_type_in = serializers.DictField(child=serializers.FloatField())
    strength_updated_at = serializers.DateTimeField(allow_null=True)
    as_of = serializers.DateTimeField()


class TieSerializer(serializers.Serializer):
    customer = serializers.IntegerField(help_text="The other person of the tie.")
    display_name = serializers.CharField()
    strength = serializers.FloatField(help_text="Stored strength 0..1 (the ordering key).")
    components = TieComponentsSerializer()
    flags = serializers.ListField(
        child=serializers.ChoiceField(choices=TIE_FLAG_NAMES),
        help_text=(
            "Negative signals on the pair: `<flag>_by_you` when the customer of the path did "
            "it to the other person, `<flag>_by_them` when the other person did it to them; "
            "flags: blocked, reported, muted (don't see their moments), unfriended, hidden "
            "(one of the other's posts hidden as not interesting)."
        ),
    )


class LeaderboardFactorsSerializer(serializers.Serializer):
    reach = serializers.IntegerField(help_text="Current friends.")
    mean_strength = serializers.FloatField(help_text="Mean tie strength to those friends.")
    engagement_rate = serializers.FloatField(
        help_text="(engaged + m·prior_rate) / (deliveries + m) over the window."
    )


class LeaderboardDetailsSerializer(serializers.Serializer):
    recipients = serializers.IntegerField(help_text="Distinct people delivered to.")
    deliveries = serializers.IntegerField()
    engaged = serializers.IntegerField(help_text="Distinct (post, person) engagements.")
    prior_rate = serializers.FloatField(help_text="The brand's engaged/delivered rate.")
    prior_deliveries = serializers.FloatField(help_text="m, the smoothing weight.")
    window_days = serializers.IntegerField()


class LeaderboardEntrySerializer(serializers.Serializer):
    advocate = serializers.IntegerField()
    customer = serializers.IntegerField()
    display_name = serializers.CharField()
    tier = serializers.CharField()
    referral_code = serializers.CharField()
    influence = serializers.FloatField(help_text="reach × mean_strength × engagement_rate.")
    factors = LeaderboardFactorsSerializer()
    details = LeaderboardDetailsSerializer()


class CandidateFactorSerializer(serializers.Serializer):
    value = serializers.FloatField()
    term = serializers.FloatField(help_text="What this factor adds to the potential.")


class CandidateTiesFactorSerializer(CandidateFactorSerializer):
    counted = serializers.IntegerField(help_text="Ties among the top ones that exist.")
    strongest = serializers.FloatField()


class CandidateFactorsSerializer(serializers.Serializer):
    ties = CandidateTiesFactorSerializer(help_text="Mean strength of the strongest ties.")
    engagement = CandidateFactorSerializer(help_text="Engagements earned on own posts.")
    purchases = CandidateFactorSerializer(help_text="Purchases through their links.")


class CandidateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    display_name = serializers.CharField()
    friend_count = serializers.IntegerField()
    lifecycle_stage = serializers.CharField()
    potential = serializers.FloatField(help_text="Sum of the factors' terms, 0..1.")
    factors = CandidateFactorsSerializer()
    window_days = serializers.IntegerField()
