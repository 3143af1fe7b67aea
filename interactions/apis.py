"""HTTP endpoints of the interaction log: list, one event, a batch of events."""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from scrm.api.errors import error_body
from scrm.api.fastjson import ORJSONParser, ORJSONRenderer
from scrm.api.permissions import ALL_CALLERS
from scrm.api.throttling import IngestRateThrottle

from . import selectors, services
from .filters import InteractionFilter
from .models import Interaction
from .serializers import (
    BatchRequestSerializer,
    BatchResponseSerializer,
    EventSerializer,
    InteractionSerializer,
    SingleResultSerializer,
)


class InteractionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The append-only log. POST stores one event (idempotent on ``event_id``)."""

    queryset = Interaction.objects.none()  # for the schema; real rows come from selectors
    allowed_callers = ALL_CALLERS
    throttle_classes = [IngestRateThrottle]
    serializer_class = InteractionSerializer
    filterset_class = InteractionFilter

    def get_queryset(self):
        return selectors.interaction_list(caller=self.request.auth)

    @extend_schema(
        request=EventSerializer,
        responses={201: SingleResultSerializer, 200: SingleResultSerializer},
    )
    def create(self, request):
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": ["Send one event object."]})
        (result,) = services.interactions_ingest(caller=request.auth, events=[request.data])
        if result.status == services.REJECTED:
            error = result.error
            if error["code"] == "permission_denied":
                raise PermissionDenied(error["message"])
            return Response(
                error_body(
                    "validation_error",
                    f"{error['field']}: {error['message']}",
                    {error["field"]: [error["message"]]},
                ),
                status=status.HTTP_400_BAD_REQUEST,
            )
        body = {**result.as_dict(), "id": result.id}
        code = status.HTTP_201_CREATED if result.status == services.CREATED else status.HTTP_200_OK
        return Response(body, status=code)


class InteractionBatchView(APIView):
    """Up to ``SCRM["INGEST_BATCH_MAX_EVENTS"]`` events; one result per event, in order.

    A bad event is rejected alone; the others are stored. The body size is capped (413).
    JSON in and out through orjson (no browsable renderer): for 1,000 events the standard
    library's parser and encoder cost more than the ingest's own validation.
    """

    allowed_callers = ALL_CALLERS
    throttle_classes = [IngestRateThrottle]
    parser_classes = [ORJSONParser]
    renderer_classes = [ORJSONRenderer]

    @extend_schema(request=BatchRequestSerializer, responses={200: BatchResponseSerializer})
    def post(self, request):
        data = request.data
        events = data.get("events") if isinstance(data, dict) else None
        if not isinstance(events, list):
            raise ValidationError({"events": ["A list of events is required."]})
        cap = settings.SCRM["INGEST_BATCH_MAX_EVENTS"]
        if not events or len(events) > cap:
            raise ValidationError({"events": [f"Send between 1 and {cap} events."]})
        results = services.interactions_ingest(caller=request.auth, events=events)
        return Response({"results": [result.as_dict() for result in results]})
