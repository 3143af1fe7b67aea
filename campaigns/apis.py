"""HTTP endpoints for posts, publishing and the feed."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import GenericAPIView
from rest_framework.response import Response

from customers.models import Customer
from scrm.api.filters import query_params_check
from scrm.api.permissions import ALL_CALLERS, STAFF_AND_APP, STAFF_AND_CUSTOMER
from scrm.tenancy.models import Role

from . import selectors
from .campaign_serializers import ShareLinkSerializer
from .filters import PostFilter
from .models import Delivery, FatiguePolicyRecord, Post
from .serializers import (
    FatiguePolicySerializer,
    FeedItemSerializer,
    PostCreateSerializer,
    PostDetailSerializer,
    PostSerializer,
    PostUpdateSerializer,
    PublishAnswerSerializer,
)
from .services import fatigue_policy as policy_services
from .services import posts as post_services
from .services.conversions import share_link_issue
from .services.publish import post_publish


def _renamed(data: dict) -> dict:
    data = dict(data)
    if "campaign" in data:
        data["campaign_id"] = data.pop("campaign")
    return data


class PostViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Moments posts. Customers author only as themselves; staff for brand accounts and
    advocates. Drafts are edited and deleted; published posts are withdrawn."""

    queryset = Post.objects.none()  # for the schema; real rows come from selectors
    allowed_callers = ALL_CALLERS
    # App keys read posts; they write through customer tokens.
    action_callers = dict.fromkeys(
        (
            "create",
            "partial_update",
            "destroy",
            "publish",
            "publish_preview",
            "share_link",
            "withdraw",
        ),
        STAFF_AND_CUSTOMER,
    )
    serializer_class = PostSerializer
    filterset_class = PostFilter

    def get_queryset(self):
        return selectors.post_list(caller=self.request.auth)

    @extend_schema(responses={200: PostDetailSerializer})
    def retrieve(self, request, pk=None):
        post = self.get_object()
        post.stats = selectors.post_stats(post=post)
        return Response(PostDetailSerializer(post).data)

    @extend_schema(request=PostCreateSerializer, responses={201: PostSerializer})
    def create(self, request):
        incoming = PostCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = _renamed(incoming.validated_data)
        post = post_services.post_create(
            caller=request.auth, author_id=data.pop("author", None), **data
        )
        return Response(PostSerializer(post).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=PostUpdateSerializer, responses={200: PostSerializer})
    def partial_update(self, request, pk=None):
        post = self.get_object()
        incoming = PostUpdateSerializer(data=request.data, partial=True)
        incoming.is_valid(raise_exception=True)
        post = post_services.post_update(
            caller=request.auth, post=post, **_renamed(incoming.validated_data)
        )
        return Response(PostSerializer(post).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        post_services.post_delete(caller=request.auth, post=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={200: PublishAnswerSerializer})
    @action(detail=True, methods=["post"], filterset_class=None)
    def publish(self, request, pk=None):
        """Ask the publish decision, then deliver to the author's friends."""
        answer = post_publish(caller=request.auth, post=self.get_object())
        return Response(PublishAnswerSerializer(answer).data)

    @extend_schema(request=None, responses={200: PublishAnswerSerializer})
    @action(detail=True, methods=["post"], url_path="publish-preview", filterset_class=None)
    def publish_preview(self, request, pk=None):
        """The same decision and counts as publishing now; writes and consumes nothing."""
        answer = post_publish(caller=request.auth, post=self.get_object(), preview=True)
        return Response(PublishAnswerSerializer(answer).data)

    @extend_schema(request=None, responses={201: ShareLinkSerializer})
    @action(detail=True, methods=["post"], url_path="share-link", filterset_class=None)
    def share_link(self, request, pk=None):
        """A signed share link of a published post for its author (or staff for them); a
        conversion that presents it is attributed to the post, its campaign and author."""
        link = share_link_issue(caller=request.auth, post=self.get_object())
        return Response(ShareLinkSerializer(link).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: PostSerializer})
    @action(detail=True, methods=["post"], filterset_class=None)
    def withdraw(self, request, pk=None):
        """Take the post down from every feed (deliveries are kept as history)."""
        post = post_services.post_withdraw(caller=request.auth, post=self.get_object())
        return Response(PostSerializer(post).data)


class FeedView(GenericAPIView):
    """A customer's feed: delivered posts, newest first, with counts and ``liked_by_me``.

    Customer tokens read their own feed; staff and app keys pass ``?customer=<id>``.
    """

    queryset = Delivery.objects.none()  # for the schema
    allowed_callers = ALL_CALLERS
    serializer_class = FeedItemSerializer

    def _customer_id(self) -> int:
        caller = self.request.auth
        raw = self.request.query_params.get("customer")
        if raw is not None:
            try:
                wanted = int(raw)
            except ValueError:
                raise ValidationError({"customer": ["Must be a customer id."]}) from None
        else:
            wanted = None
        if caller.is_customer:
            if wanted is not None and wanted != caller.customer_id:
                raise PermissionDenied("A customer token reads only its own feed.")
            return caller.customer_id
        if wanted is None:
            raise ValidationError({"customer": ["Required for staff and app callers."]})
        if not Customer.objects.filter(brand_id=caller.brand_id, pk=wanted).exists():
            raise ValidationError({"customer": [f"No customer {wanted} in this brand."]})
        return wanted

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "customer", int, description="Whose feed (staff and app keys; required)."
            )
        ],
        responses={200: FeedItemSerializer(many=True)},
    )
    def get(self, request):
        query_params_check(request, {"customer"})
        customer_id = self._customer_id()
        queryset = selectors.feed_for(brand_id=request.auth.brand_id, customer_id=customer_id)
        page = self.paginate_queryset(queryset)
        engagement = selectors.feed_engagement(deliveries=page, viewer_id=customer_id)
        data = FeedItemSerializer(page, many=True, context={"engagement": engagement}).data
        return self.get_paginated_response(data)


class FatiguePolicyView(GenericAPIView):
    """The brand's fatigue rules. Read: staff (analyst and up) and app keys; write: managers.

    PUT replaces the policy (fields left out take the defaults), PATCH changes the fields
    given. Every change is audited (who, when, each field old → new).
    """

    queryset = FatiguePolicyRecord.objects.none()  # for the schema
    allowed_callers = STAFF_AND_APP
    read_role = Role.ANALYST
    write_role = Role.MANAGER
    serializer_class = FatiguePolicySerializer
    pagination_class = None
    filter_backends = []

    def get_object(self) -> FatiguePolicyRecord:
        return policy_services.fatigue_policy_get_or_create(brand_id=self.request.auth.brand_id)

    @staticmethod
    def _render(record: FatiguePolicyRecord) -> dict:
        return {**record.policy, "updated_at": record.updated_at}

    def _write(self, request, partial: bool) -> Response:
        record = policy_services.fatigue_policy_update(
            brand_id=request.auth.brand_id, data=request.data, partial=partial, caller=request.auth
        )
        return Response(FatiguePolicySerializer(self._render(record)).data)

    @extend_schema(responses={200: FatiguePolicySerializer})
    def get(self, request):
        query_params_check(request)
        return Response(FatiguePolicySerializer(self._render(self.get_object())).data)

    @extend_schema(request=FatiguePolicySerializer, responses={200: FatiguePolicySerializer})
    def put(self, request):
        return self._write(request, partial=False)

    @extend_schema(request=FatiguePolicySerializer, responses={200: FatiguePolicySerializer})
    def patch(self, request):
        return self._write(request, partial=True)
