"""HTTP endpoints of the WeCom connector: configuration, callbacks, churn alerts."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import (
    APIException,
    AuthenticationFailed,
    NotFound,
    ValidationError,
)
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from scrm.api.errors import PayloadTooLarge
from scrm.api.filters import query_params_check
from scrm.api.pagination import CursorPagination
from scrm.api.permissions import STAFF_ONLY
from scrm.tenancy.models import Role

from . import crypto, selectors
from .filters import CallbackEventFilter, ChurnFilter
from .models import CallbackEvent, ChurnRecord, WeComConfig
from .secrets import SecretUnreadable
from .serializers import CallbackEventSerializer, ChurnSerializer, WeComConfigSerializer
from .services import config as config_services
from .services.callbacks import StaleTimestamp, callback_store, message_open, url_verify

# WeCom codes of refusals that are the sender's fault (400) rather than its credentials (401).
BAD_REQUEST_CODES = frozenset(
    {crypto.PARSE_XML_ERROR, crypto.DECRYPT_AES_ERROR, crypto.ILLEGAL_BUFFER}
)


class WeComConfigView(GenericAPIView):
    """The brand's WeCom corp, callback token and EncodingAESKey, and which WeCom UserIDs are
    which brand accounts. Read: staff analyst and up; write (PUT replaces): managers and
    owners. The token and key are never answered in full."""

    queryset = WeComConfig.objects.none()  # for the schema
    allowed_callers = STAFF_ONLY
    read_role = Role.ANALYST
    write_role = Role.MANAGER
    serializer_class = WeComConfigSerializer
    pagination_class = None
    filter_backends: list = []

    def get_object(self) -> WeComConfig | None:
        return selectors.wecom_config_of(brand_id=self.request.auth.brand_id)

    def _render(self, config: WeComConfig | None) -> dict:
        brand_id = self.request.auth.brand_id
        slug = selectors.brand_slug_of(brand_id=brand_id)
        staff = [
            {"user_id": s.user_id, "brand_account": s.brand_account_id}
            for s in selectors.wecom_staff_of(brand_id=brand_id)
        ]
        return {
            "configured": config is not None,
            "corp_id": config.corp_id if config else "",
            "token_hint": config.token_hint if config else "",
            "encoding_aes_key_hint": config.aes_key_hint if config else "",
            "agent_id": config.agent_id if config else "",
            "suite_id": config.suite_id if config else "",
            "is_active": config.is_active if config else False,
            "staff": staff,
            "callback_url": self.request.build_absolute_uri(f"/api/v1/wecom/callback/{slug}/"),
            "updated_at": config.updated_at if config else None,
        }

    @extend_schema(responses={200: WeComConfigSerializer})
    def get(self, request):
        query_params_check(request)
        return Response(WeComConfigSerializer(self._render(self.get_object())).data)

    @extend_schema(request=WeComConfigSerializer, responses={200: WeComConfigSerializer})
    def put(self, request):
        query_params_check(request)
        incoming = WeComConfigSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        config = config_services.wecom_config_update(
            brand_id=request.auth.brand_id,
            corp_id=data["corp_id"],
            token=data.get("token"),
            encoding_aes_key=data.get("encoding_aes_key"),
            agent_id=data.get("agent_id", ""),
            suite_id=data.get("suite_id", ""),
            is_active=data.get("is_active", True),
            staff=[dict(row) for row in data["staff"]] if "staff" in data else None,
            user_id=request.auth.user_id,
        )
        return Response(WeComConfigSerializer(self._render(config)).data)


class WeComBadRequest(APIException):
    """A callback whose body cannot be read: 400 with WeCom's error code in details."""

    status_code = status.HTTP_400_BAD_REQUEST
    default_code = "parse_error"

    def __init__(self, message: str, details: dict):
        super().__init__(message)
        self.details = details


class WeComRefused(AuthenticationFailed):
    """A callback refused for its credentials: 401 with WeCom's error code in details."""

    def __init__(self, message: str, details: dict):
        super().__init__(message)
        self.details = details


SIGNED_PARAMS = [
    OpenApiParameter("msg_signature", OpenApiTypes.STR, required=True),
    OpenApiParameter("timestamp", OpenApiTypes.STR, required=True),
    OpenApiParameter("nonce", OpenApiTypes.STR, required=True),
]
PLAIN_ANSWER = OpenApiResponse(OpenApiTypes.STR, description="The decrypted echostr, bare.")
SUCCESS_ANSWER = OpenApiResponse(OpenApiTypes.STR, description="`success` (text/plain).")
CALLBACK_ERRORS = {
    400: OpenApiResponse(description="Bad XML (-40002) or ciphertext (-40007), or parameters."),
    401: OpenApiResponse(
        description="Wrong signature (-40001), receiveid (-40005) or a stale timestamp."
    ),
    404: OpenApiResponse(description="No active WeCom configuration for this brand slug."),
}


class WeComCallbackView(APIView):
    """WeCom's callbacks for one brand: no auth header; authenticated by the signature.

    GET is the URL check (answers the decrypted ``echostr``, bare); POST takes an encrypted
    event, stores it once (retries are deduplicated) and answers ``success`` at once; a
    Celery task applies it."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    def _keys(self, brand_slug: str) -> config_services.CallbackKeys:
        config = selectors.wecom_config_for_callback(brand_slug=brand_slug)
        if config is None:
            raise NotFound("No active WeCom configuration for this brand.")
        try:
            return config_services.callback_keys(config)
        except SecretUnreadable:
            raise NotFound("This brand's WeCom secrets must be entered again.") from None

    def _params(self, request, names: tuple[str, ...]) -> dict[str, str]:
        values = {name: request.query_params.get(name, "") for name in names}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise ValidationError({name: ["Required."] for name in missing})
        if not values["timestamp"].isdigit() or len(values["timestamp"]) > 12:
            raise ValidationError({"timestamp": ["Must be Unix seconds."]})
        return values

    def get_authenticate_header(self, request) -> str:
        return 'WeCom realm="callback"'  # refusals answer 401, not 403

    @staticmethod
    def _refused(exc: Exception) -> APIException:
        if isinstance(exc, StaleTimestamp):
            return WeComRefused(
                "The timestamp is too far from now (a replay?).",
                {
                    "timestamp": [str(exc)],
                    "max_skew_seconds": settings.SCRM["WECOM_MAX_CLOCK_SKEW_SECONDS"],
                },
            )
        assert isinstance(exc, crypto.WeComCryptoError)
        if exc.code in BAD_REQUEST_CODES:
            return WeComBadRequest(exc.message, {"wecom_code": exc.code})
        return WeComRefused(exc.message, {"wecom_code": exc.code})

    @extend_schema(
        parameters=[*SIGNED_PARAMS, OpenApiParameter("echostr", OpenApiTypes.STR, required=True)],
        responses={200: PLAIN_ANSWER, **CALLBACK_ERRORS},
        auth=[],
    )
    def get(self, request, brand_slug: str):
        """URL verification: the decrypted echostr, as text."""
        params = self._params(request, ("msg_signature", "timestamp", "nonce", "echostr"))
        keys = self._keys(brand_slug)
        try:
            plain = url_verify(keys=keys, **params)
        except (crypto.WeComCryptoError, StaleTimestamp) as exc:
            raise self._refused(exc) from None
        return HttpResponse(plain, content_type="text/plain; charset=utf-8")

    @extend_schema(
        parameters=SIGNED_PARAMS,
        request={"application/xml": OpenApiTypes.STR, "text/xml": OpenApiTypes.STR},
        responses={200: SUCCESS_ANSWER, **CALLBACK_ERRORS},
        auth=[],
    )
    def post(self, request, brand_slug: str):
        """An encrypted event: verified, stored once, acknowledged; applied by a worker."""
        limit = settings.SCRM["WECOM_CALLBACK_MAX_BODY_BYTES"]
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > limit:
            raise PayloadTooLarge(f"Request body is {length} bytes; the limit here is {limit}.")
        params = self._params(request, ("msg_signature", "timestamp", "nonce"))
        body = request.body
        if len(body) > limit:
            raise PayloadTooLarge(f"Request body is over {limit} bytes.")
        keys = self._keys(brand_slug)
        try:
            fields = message_open(keys=keys, body=body, **params)
        except (crypto.WeComCryptoError, StaleTimestamp) as exc:
            raise self._refused(exc) from None
        callback_store(brand_id=keys.brand_id, fields=fields)
        return HttpResponse("success", content_type="text/plain; charset=utf-8")


class ChurnPagination(CursorPagination):
    ordering = ("-occurred_at", "-id")


class ChurnListView(ListAPIView):
    """Churn alerts: customers who deleted a brand account (WeCom ``del_follow_user``), when,
    after how long, and the posts delivered to them in the 7 days before. Staff only."""

    allowed_callers = STAFF_ONLY
    read_role = Role.ANALYST
    serializer_class = ChurnSerializer
    queryset = ChurnRecord.objects.none()  # for the schema
    filterset_class = ChurnFilter
    pagination_class = ChurnPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ChurnRecord.objects.none()
        return selectors.churn_list(brand_id=self.request.auth.brand_id)

    def list(self, request, *args, **kwargs):
        queryset = self.filter_queryset(self.get_queryset())
        page = list(self.paginate_queryset(queryset))
        seen = selectors.churn_seen_posts(records=page)
        data = ChurnSerializer(page, many=True, context={"seen": seen}).data
        return self.get_paginated_response(data)


class CallbackEventListView(ListAPIView):
    """The brand's accepted WeCom callbacks, newest first: what WeCom sent (payload), how
    often (``deliveries``: retries are stored once), and what came of it (``status``:
    pending, applied, recorded, failed; ``result`` / ``error``). Staff only."""

    allowed_callers = STAFF_ONLY
    read_role = Role.ANALYST
    serializer_class = CallbackEventSerializer
    queryset = CallbackEvent.objects.none()  # for the schema
    filterset_class = CallbackEventFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return CallbackEvent.objects.none()
        return selectors.callback_events(brand_id=self.request.auth.brand_id)
