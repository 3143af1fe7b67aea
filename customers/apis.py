"""HTTP endpoints for customers, friendships, advocates and customer tokens."""

from __future__ import annotations

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from interactions import selectors as interaction_selectors
from privacy import export as privacy_export
from privacy import selectors as privacy_selectors
from privacy import services as privacy_services
from privacy.audit import Actor, AuditAction, audit_record
from privacy.serializers import (
    ConsentChangeSerializer,
    ConsentRecordSerializer,
    ErasureCreateSerializer,
    ErasureRequestSerializer,
)
from scrm.api.errors import Conflict
from scrm.api.filters import query_params_check
from scrm.api.pagination import CursorPagination, KeysetPagination
from scrm.api.permissions import ALL_CALLERS, STAFF_AND_APP, STAFF_AND_CUSTOMER, STAFF_ONLY
from scrm.api.throttling import CallerScopedRateThrottle
from scrm.tenancy.models import Role
from scrm.tenancy.services import customer_token_issue

from . import selectors, services
from .filters import AdvocateFilter, CustomerFilter, FriendshipFilter
from .models import Advocate, ConsentRecord, ConsentSource, Customer, Friendship
from .serializers import (
    AdvocateCreateSerializer,
    AdvocateSerializer,
    AdvocateUpdateSerializer,
    CandidateSerializer,
    CustomerCreateSerializer,
    CustomerSerializer,
    CustomerTokenRequestSerializer,
    CustomerUpdateSerializer,
    FriendSerializer,
    FriendshipCreateSerializer,
    FriendshipSerializer,
    LeaderboardEntrySerializer,
    TieSerializer,
    TokenResponseSerializer,
)

FRIEND_ORDERINGS = {"-id": ("-id",), "id": ("id",), "-strength": ("-strength", "id")}
FRIEND_ORDERINGS["strength"] = ("strength", "id")


def _friend_paginator(ordering: str) -> CursorPagination:
    if ordering not in FRIEND_ORDERINGS:
        choices = ", ".join(sorted(FRIEND_ORDERINGS))
        raise ValidationError({"ordering": [f"Must be one of: {choices}."]})
    paginator = CursorPagination()
    paginator.ordering = FRIEND_ORDERINGS[ordering]
    return paginator


class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Brand customers. Customer tokens can read only their own record."""

    allowed_callers = ALL_CALLERS
    action_callers = {
        "create": STAFF_AND_APP,
        "partial_update": STAFF_AND_APP,
        "destroy": STAFF_AND_APP,
        "export": STAFF_AND_CUSTOMER,
        "erase": STAFF_AND_CUSTOMER,
    }
    action_roles = {"destroy": Role.MANAGER, "export": Role.MANAGER, "erase": Role.MANAGER}
    serializer_class = CustomerSerializer
    queryset = Customer.objects.none()  # for the schema only; get_queryset scopes by brand
    filterset_class = CustomerFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Customer.objects.none()
        return selectors.customer_list(caller=self.request.auth)

    def get_serializer(self, *args, **kwargs):
        kwargs.setdefault("mask_phone", self.action == "list")
        return super().get_serializer(*args, **kwargs)

    @extend_schema(request=CustomerCreateSerializer, responses={201: CustomerSerializer})
    def create(self, request):
        incoming = CustomerCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        customer = services.customer_create(
            brand_id=request.auth.brand_id,
            actor=Actor.of_caller(request.auth),
            **incoming.validated_data,
        )
        customer = self.get_queryset().get(pk=customer.pk)
        return Response(CustomerSerializer(customer).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=CustomerUpdateSerializer, responses={200: CustomerSerializer})
    def partial_update(self, request, pk=None):
        customer = self.get_object()
        incoming = CustomerUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        services.customer_update(
            customer=customer, actor=Actor.of_caller(request.auth), **incoming.validated_data
        )
        customer = self.get_queryset().get(pk=customer.pk)
        if "phone" not in incoming.validated_data:
            _audit_phone_read(request, customer)
        return Response(CustomerSerializer(customer).data)

    def retrieve(self, request, pk=None):
        """One customer, with the phone unmasked (each read by staff or an app key is
        audited)."""
        customer = self.get_object()
        _audit_phone_read(request, customer)
        return Response(CustomerSerializer(customer).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        """Delete a customer (managers and above)."""
        services.customer_delete(customer=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        responses=FriendSerializer(many=True),
        parameters=[
            OpenApiParameter(
                "ordering",
                OpenApiTypes.STR,
                enum=sorted(FRIEND_ORDERINGS),
                description="`-strength`: strongest ties first. Default `-id`.",
            )
        ],
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def friends(self, request, pk=None):
        """Current friends of the customer, with tie strength."""
        query_params_check(request, {"ordering"})
        self._paginator = _friend_paginator(request.query_params.get("ordering", "-id"))
        customer = self.get_object()
        queryset = selectors.friends_of(customer=customer)
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(FriendSerializer(page, many=True).data)

    @extend_schema(responses=TieSerializer(many=True))
    @action(detail=True, methods=["get"], filterset_class=None, pagination_class=KeysetPagination)
    def ties(self, request, pk=None):
        """The customer's ties, strongest first, each with the parts of its strength decayed to
        now and the negative-signal flags of both directions. A customer token sees only its
        own ties."""
        query_params_check(request)
        customer = self.get_object()
        paginator = self.paginator
        keyset = paginator.keyset(request)
        rows = interaction_selectors.tie_partners_page(customer=customer, keyset=keyset)
        page = paginator.paginate(rows, keyset, key=lambda row: (row.tie_strength, -row.pk))
        results = interaction_selectors.ties_explain(customer=customer, partners=page)
        return paginator.get_paginated_response(TieSerializer(results, many=True).data)

    @extend_schema(
        methods=["GET"],
        responses=ConsentRecordSerializer(many=True),
        summary="Consent history of the customer, newest first",
    )
    @extend_schema(
        methods=["POST"],
        request=ConsentChangeSerializer,
        responses={201: ConsentRecordSerializer},
        summary="Record a grant or withdrawal of one purpose",
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def consents(self, request, pk=None):
        """Consent per purpose — `commercial_posts` (the customer's `marketing_consent`),
        `mass_messages`, `profiling` — with its history: each grant or withdrawal with source,
        time and the version of the consent text. A customer token acts on its own record
        (source `customer`). Withdrawing `profiling` removes the customer's tie scores."""
        customer = self.get_object()
        if request.method == "GET":
            query_params_check(request)
            queryset = ConsentRecord.objects.filter(customer=customer)
            page = self.paginate_queryset(queryset)
            return self.get_paginated_response(ConsentRecordSerializer(page, many=True).data)
        incoming = ConsentChangeSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        caller = request.auth
        if caller.is_customer:
            source = ConsentSource.CUSTOMER
        else:
            default = ConsentSource.MINI_PROGRAM if caller.kind == "app" else ConsentSource.STAFF
            source = data.get("source", default)
        record = services.customer_consent_set(
            customer=customer,
            purpose=data["purpose"],
            granted=data["granted"],
            source=source,
            text_version=data.get("text_version", ""),
            at=data.get("recorded_at"),
            actor=Actor.of_caller(caller),
        )
        return Response(ConsentRecordSerializer(record).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        responses={
            (200, "application/json"): OpenApiResponse(
                OpenApiTypes.OBJECT,
                description="One JSON document: the profile and a list per section "
                "(consent history, friendships, interactions as actor and as target, ties, "
                "posts, deliveries, enrollments, conversions, erasure requests, access log).",
            )
        },
        summary="Export everything held about the customer",
    )
    @action(detail=True, methods=["get"], filterset_class=None)
    def export(self, request, pk=None):
        """Everything held about the customer as one JSON document, streamed (staff managers
        and owners; a customer token: its own). Each export is audited."""
        query_params_check(request)
        customer = self.get_object()
        audit_record(
            brand_id=customer.brand_id,
            action=AuditAction.EXPORT,
            customer_id=customer.pk,
            actor=Actor.of_caller(request.auth),
        )
        response = StreamingHttpResponse(
            privacy_export.export_stream(customer=customer), content_type="application/json"
        )
        response["Content-Disposition"] = f'attachment; filename="customer-{customer.pk}.json"'
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(
        methods=["GET"],
        responses=ErasureRequestSerializer(many=True),
        summary="The customer's erasure requests, newest first, with their progress",
    )
    @extend_schema(
        methods=["POST"],
        request=ErasureCreateSerializer,
        responses={202: ErasureRequestSerializer, 200: ErasureRequestSerializer},
        summary="Request erasure of the customer's personal data",
    )
    @action(detail=True, methods=["get", "post"], filterset_class=None)
    def erase(self, request, pk=None):
        """Erasure (staff managers and owners; a customer token: its own): queued to a worker
        that removes or pseudonymises the personal data and keeps the aggregates. Answers 202
        with the request; asking again answers the open (or finished) request with 200.
        GET lists the requests, newest first, with status and progress."""
        customer = self.get_object()
        if request.method == "GET":
            query_params_check(request)
            page = self.paginate_queryset(privacy_selectors.erasure_list(customer=customer))
            return self.get_paginated_response(ErasureRequestSerializer(page, many=True).data)
        incoming = ErasureCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        erasure, created = privacy_services.erasure_request(
            customer=customer,
            actor=Actor.of_caller(request.auth),
            reason=incoming.validated_data.get("reason", ""),
        )
        return Response(
            ErasureRequestSerializer(erasure).data,
            status=status.HTTP_202_ACCEPTED if created else status.HTTP_200_OK,
        )


def _audit_phone_read(request, customer: Customer) -> None:
    """A single customer's phone is shown unmasked: the read is audited (not the customer's
    own)."""
    caller = request.auth
    if not customer.phone or (caller.is_customer and caller.customer_id == customer.pk):
        return
    audit_record(
        brand_id=customer.brand_id,
        action=AuditAction.PHONE_READ,
        customer_id=customer.pk,
        actor=Actor.of_caller(caller),
    )


class FriendshipViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Undirected friendships. POST is idempotent (A–B equals B–A); DELETE records an unfriend."""

    allowed_callers = ALL_CALLERS
    action_callers = {"create": STAFF_AND_APP}
    serializer_class = FriendshipSerializer
    queryset = Friendship.objects.none()  # for the schema only; get_queryset scopes by brand
    filterset_class = FriendshipFilter

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Friendship.objects.none()
        return selectors.friendship_list(caller=self.request.auth)

    @extend_schema(
        request=FriendshipCreateSerializer,
        responses={201: FriendshipSerializer, 200: FriendshipSerializer},
    )
    def create(self, request):
        caller = request.auth
        incoming = FriendshipCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        friendship, created = services.friendship_create(
            brand_id=caller.brand_id,
            customer_id=data["customer"],
            friend_id=data["friend"],
            since=data.get("since"),
            **({"source": data["source"]} if "source" in data else {}),
        )
        return Response(
            FriendshipSerializer(friendship).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(responses={200: FriendshipSerializer})
    def destroy(self, request, pk=None):
        """End the friendship (kept as history). A customer may end only their own."""
        friendship = self.get_object()
        caller = request.auth
        ended_by = caller.customer_id if caller.is_customer else None
        friendship = services.friendship_end(
            friendship=friendship, ended_by_id=ended_by, reason="unfriend"
        )
        return Response(FriendshipSerializer(friendship).data)


class AdvocateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """KOC advocates: promote a consumer, pause, resume, retire. Staff only for changes."""

    allowed_callers = ALL_CALLERS
    action_callers = {"create": STAFF_ONLY, "partial_update": STAFF_ONLY}
    serializer_class = AdvocateSerializer
    queryset = Advocate.objects.none()  # for the schema only; get_queryset scopes by brand
    filterset_class = AdvocateFilter
    write_role = Role.MANAGER

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation: no caller
            return Advocate.objects.none()
        return selectors.advocate_list(caller=self.request.auth)

    @extend_schema(request=AdvocateCreateSerializer, responses={201: AdvocateSerializer})
    def create(self, request):
        incoming = AdvocateCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        advocate = services.advocate_promote(
            brand_id=request.auth.brand_id,
            customer_id=incoming.validated_data["customer"],
            notes=incoming.validated_data.get("notes", ""),
        )
        return Response(AdvocateSerializer(advocate).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=AdvocateUpdateSerializer, responses={200: AdvocateSerializer})
    def partial_update(self, request, pk=None):
        advocate = self.get_object()
        incoming = AdvocateUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        if "status" in data:
            advocate = services.advocate_set_status(
                advocate=advocate, status=data["status"], reason=data.get("reason", "")
            )
        if "notes" in data:
            advocate = services.advocate_update_notes(advocate=advocate, notes=data["notes"])
        return Response(AdvocateSerializer(advocate).data)

    @extend_schema(responses=LeaderboardEntrySerializer(many=True))
    @action(
        detail=False,
        methods=["get"],
        filterset_class=None,
        pagination_class=KeysetPagination,
        allowed_callers=STAFF_AND_APP,
    )
    def leaderboard(self, request):
        """Active advocates by influence = reach × mean tie strength × engagement rate, each
        factor shown. Staff and app keys."""
        query_params_check(request)
        paginator = self.paginator
        keyset = paginator.keyset(request)
        rows = selectors.advocate_leaderboard(brand_id=request.auth.brand_id, keyset=keyset)
        page = paginator.paginate(rows, keyset)
        data = LeaderboardEntrySerializer([_leaderboard_entry(row) for row in page], many=True)
        return paginator.get_paginated_response(data.data)

    @extend_schema(responses=CandidateSerializer(many=True))
    @action(
        detail=False,
        methods=["get"],
        filterset_class=None,
        pagination_class=KeysetPagination,
        allowed_callers=STAFF_AND_APP,
    )
    def candidates(self, request):
        """KOC discovery: consumers who are not advocates (and did not opt out of marketing)
        by advocacy potential = strong ties + engagement on own posts + purchases through
        their links, each factor shown. Staff and app keys."""
        query_params_check(request)
        paginator = self.paginator
        keyset = paginator.keyset(request)
        rows = selectors.advocate_candidates(brand_id=request.auth.brand_id, keyset=keyset)
        page = paginator.paginate(rows, keyset)
        data = CandidateSerializer([_candidate_entry(row) for row in page], many=True)
        return paginator.get_paginated_response(data.data)


def _leaderboard_entry(row: dict) -> dict:
    return {
        "advocate": row["id"],
        "customer": row["customer_id"],
        "display_name": row["display_name"],
        "tier": row["tier"],
        "referral_code": row["referral_code"],
        "influence": row["score"],
        "factors": {
            "reach": row["reach"],
            "mean_strength": round(row["mean_strength"], 6),
            "engagement_rate": round(row["engagement_rate"], 6),
        },
        "details": {
            "recipients": row["recipients"],
            "deliveries": row["deliveries"],
            "engaged": row["engaged"],
            "prior_rate": round(row["prior_rate"], 6),
            "prior_deliveries": settings.SCRM["ENGAGEMENT_PRIOR_DELIVERIES"],
            "window_days": settings.SCRM["INFLUENCE_WINDOW_DAYS"],
        },
    }


def _candidate_entry(row: dict) -> dict:
    return {
        "customer": row["id"],
        "display_name": row["display_name"],
        "friend_count": row["friend_count"],
        "lifecycle_stage": row["lifecycle_stage"],
        "potential": row["score"],
        "factors": {
            "ties": {
                "value": round(row["ties_score"], 6),
                "term": round(row["ties_term"], 6),
                "counted": row["ties_counted"],
                "strongest": round(row["strongest_tie"], 6),
            },
            "engagement": {"value": row["engaged"], "term": round(row["engagement_term"], 6)},
            "purchases": {"value": row["purchases"], "term": round(row["purchases_term"], 6)},
        },
        "window_days": settings.SCRM["INFLUENCE_WINDOW_DAYS"],
    }


class CustomerTokenView(APIView):
    """Mint a short-lived token that acts only as one customer (app keys and staff)."""

    allowed_callers = STAFF_AND_APP
    throttle_classes = [CallerScopedRateThrottle]
    throttle_scope = "customer_token"

    @extend_schema(
        request=CustomerTokenRequestSerializer,
        responses={
            201: TokenResponseSerializer,
            404: OpenApiResponse(description="No customer with this external_id."),
            409: OpenApiResponse(description="The customer was erased."),
            429: OpenApiResponse(description="Too many tokens minted by this caller."),
        },
    )
    def post(self, request):
        incoming = CustomerTokenRequestSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        external_id = incoming.validated_data["external_id"]
        customer = Customer.objects.filter(
            brand_id=request.auth.brand_id, external_id=external_id
        ).first()
        if customer is None:
            raise NotFound(f"No customer with external_id {external_id!r} in this brand.")
        if customer.erased_at is not None:
            raise Conflict(
                f"Customer {customer.pk} was erased: no token is minted for it.",
                code="customer_erased",
            )
        issued = customer_token_issue(brand_id=customer.brand_id, customer_id=customer.pk)
        return Response(
            {"token": issued.token, "expires_at": issued.expires_at, "customer": customer.pk},
            status=status.HTTP_201_CREATED,
        )
