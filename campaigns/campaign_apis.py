"""HTTP endpoints for campaigns, enrollments, the campaign report and conversions.

Campaigns, enrollments and reports are for staff only (analysts read, managers write).
Conversions: staff read and (operators+) record; app keys record (the mini-program's server
reports orders) and read nothing. Customer tokens get 403 everywhere here.
"""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, renderers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.response import Response

from scrm.api.filters import query_params_check
from scrm.api.permissions import STAFF_AND_APP, STAFF_ONLY
from scrm.tenancy.models import Role

from . import selectors
from .campaign_serializers import (
    CampaignCreateSerializer,
    CampaignReportSerializer,
    CampaignSerializer,
    CampaignUpdateSerializer,
    ConversionAnswerSerializer,
    ConversionCreateSerializer,
    ConversionSerializer,
    EnrollmentCreateSerializer,
    EnrollmentSerializer,
    SampleSerializer,
    SampleUpdateSerializer,
)
from .filters import CampaignFilter, ConversionFilter
from .models import Campaign, Conversion, SampleShipment
from .services import campaigns as campaign_services
from .services.conversions import conversion_record
from .services.reports import campaign_report, report_csv


class CSVRenderer(renderers.BaseRenderer):
    """``text/csv`` for ``?format=csv`` or ``Accept: text/csv``; errors as two columns."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, str):
            return data.encode(self.charset)
        error = (data or {}).get("error", {}) if isinstance(data, dict) else {}
        return f'code,message\n{error.get("code", "")},"{error.get("message", "")}"\n'.encode(
            self.charset
        )


class CampaignViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Campaigns of the caller's brand: draft → active → ended, enrollments and the report."""

    allowed_callers = STAFF_ONLY
    write_role = Role.MANAGER
    queryset = Campaign.objects.none()  # for the schema; requests use get_queryset
    serializer_class = CampaignSerializer
    filterset_class = CampaignFilter

    def get_queryset(self):
        return selectors.campaign_list(brand_id=self.request.auth.brand_id)

    @extend_schema(request=CampaignCreateSerializer, responses={201: CampaignSerializer})
    def create(self, request):
        incoming = CampaignCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        campaign = campaign_services.campaign_create(
            brand_id=request.auth.brand_id, **incoming.validated_data
        )
        campaign = self.get_queryset().get(pk=campaign.pk)
        return Response(CampaignSerializer(campaign).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        request=CampaignUpdateSerializer,
        responses={
            200: CampaignSerializer,
            409: OpenApiResponse(description="Locked field or bad transition."),
        },
    )
    def partial_update(self, request, pk=None):
        campaign = self.get_object()
        incoming = CampaignUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        campaign_services.campaign_update(campaign=campaign, **incoming.validated_data)
        return Response(CampaignSerializer(self.get_queryset().get(pk=campaign.pk)).data)

    @extend_schema(methods=["GET"], responses={200: EnrollmentSerializer(many=True)}, request=None)
    @extend_schema(
        methods=["POST"], request=EnrollmentCreateSerializer, responses={201: EnrollmentSerializer}
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def enrollments(self, request, pk=None):
        """Enrolled advocates with their campaign referral codes, fees and free samples."""
        query_params_check(request)
        campaign = self.get_object()
        if request.method == "POST":
            incoming = EnrollmentCreateSerializer(data=request.data)
            incoming.is_valid(raise_exception=True)
            data = incoming.validated_data
            enrollment = campaign_services.enrollment_create(
                campaign=campaign,
                advocate_id=data["advocate"],
                fee=data.get("fee"),
                samples=data.get("samples"),
            )
            enrollment = selectors.enrollment_list(campaign=campaign).get(pk=enrollment.pk)
            return Response(EnrollmentSerializer(enrollment).data, status=status.HTTP_201_CREATED)
        page = self.paginate_queryset(selectors.enrollment_list(campaign=campaign))
        return self.get_paginated_response(EnrollmentSerializer(page, many=True).data)

    @extend_schema(request=SampleUpdateSerializer, responses={200: SampleSerializer})
    @action(
        detail=True,
        methods=["patch"],
        url_path=r"samples/(?P<sample_id>[0-9]{1,18})",
        filterset_class=None,
    )
    def sample(self, request, pk=None, sample_id=None):
        """Mark a free sample shipped, received or reviewed (or correct its cost)."""
        campaign = self.get_object()
        sample = SampleShipment.objects.filter(
            pk=sample_id, enrollment__campaign_id=campaign.pk
        ).first()
        if sample is None:
            raise NotFound("No such sample in this campaign.")
        incoming = SampleUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        sample = campaign_services.sample_update(sample=sample, **incoming.validated_data)
        return Response(SampleSerializer(sample).data)

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=["json", "csv"], description="csv: a CSV file.")
        ],
        responses={200: CampaignReportSerializer},
    )
    @action(
        detail=True,
        methods=["get"],
        filterset_class=None,
        renderer_classes=[renderers.JSONRenderer, CSVRenderer],
    )
    def report(self, request, pk=None):
        """Reach, impressions, engagement, conversions, revenue, cost and ROI; by advocate,
        by tier and by the buyer's tie-strength band (definitions in the service)."""
        query_params_check(request)
        campaign = self.get_object()
        report = campaign_report(campaign=campaign)
        if request.accepted_renderer.format == "csv":
            response = HttpResponse(report_csv(report), content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (
                f'attachment; filename="campaign-{campaign.pk}-report.csv"'
            )
            return response
        return Response(CampaignReportSerializer(report).data)


class ConversionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Orders, idempotent on ``order_id``: a repeat answers 200 ``duplicate`` and changes
    nothing. App keys may only POST."""

    allowed_callers = STAFF_ONLY
    action_callers = {"create": STAFF_AND_APP}  # the mini-program's server reports orders
    queryset = Conversion.objects.none()  # for the schema; requests use get_queryset
    serializer_class = ConversionSerializer
    filterset_class = ConversionFilter

    def get_queryset(self):
        return selectors.conversion_list(brand_id=self.request.auth.brand_id)

    @extend_schema(
        request=ConversionCreateSerializer,
        responses={201: ConversionAnswerSerializer, 200: ConversionAnswerSerializer},
    )
    def create(self, request):
        incoming = ConversionCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = dict(incoming.validated_data)
        result = conversion_record(caller=request.auth, buyer_id=data.pop("buyer", None), **data)
        body = {"status": result.status, "conversion": result.conversion}
        code = status.HTTP_201_CREATED if result.created else status.HTTP_200_OK
        return Response(ConversionAnswerSerializer(body).data, status=code)
