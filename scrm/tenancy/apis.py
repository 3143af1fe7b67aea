from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from . import services
from .models import Brand, Role
from .serializers import StaffTokenRequestSerializer, StaffTokenResponseSerializer


class StaffTokenView(APIView):
    """Exchange a staff username and password for a bearer token bound to one brand."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "auth"

    def get_authenticate_header(self, request) -> str:
        return "Bearer"  # wrong credentials answer 401, not 403

    @extend_schema(
        request=StaffTokenRequestSerializer,
        responses={
            201: StaffTokenResponseSerializer,
            401: OpenApiResponse(description="Wrong username or password."),
        },
        auth=[],
    )
    def post(self, request):
        incoming = StaffTokenRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None or not user.is_active:
            raise AuthenticationFailed("Wrong username or password.")
        memberships = services.brands_for_user(user)
        if "brand" in data:
            memberships = [m for m in memberships if m.brand.slug == data["brand"]]
            if not memberships and user.is_superuser:
                brand = Brand.objects.filter(slug=data["brand"], is_active=True).first()
                if brand is None:
                    raise ValidationError({"brand": [f"No brand {data['brand']!r}."]})
                issued = services.staff_token_issue(user=user, brand=brand)
                return self._answer(issued, brand.slug, Role.OWNER)
        if not memberships:
            raise ValidationError({"brand": ["You are not a member of this (or any) brand."]})
        if len(memberships) > 1:
            slugs = sorted(m.brand.slug for m in memberships)
            raise ValidationError({"brand": [f"You belong to several brands; pick one: {slugs}."]})
        membership = memberships[0]
        issued = services.staff_token_issue(user=user, brand=membership.brand)
        return self._answer(issued, membership.brand.slug, membership.role)

    @staticmethod
    def _answer(issued, brand_slug: str, role: str) -> Response:
        return Response(
            {
                "token": issued.token,
                "expires_at": issued.expires_at,
                "brand": brand_slug,
                "role": role,
            },
            status=status.HTTP_201_CREATED,
        )
