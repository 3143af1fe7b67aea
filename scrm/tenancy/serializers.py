from rest_framework import serializers

from scrm.api.fields import StrictCharField


class StaffTokenRequestSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)
    brand = serializers.SlugField(
        required=False, help_text="Brand slug; needed only when you belong to several brands."
    )


class StaffTokenResponseSerializer(serializers.Serializer):
    token = serializers.CharField()
    expires_at = serializers.DateTimeField()
    brand = serializers.SlugField()
    role = serializers.CharField()
