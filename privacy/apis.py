"""HTTP endpoints of the privacy app: the audit trail (owners)."""

from __future__ import annotations

from rest_framework import mixins, viewsets

from scrm.api.pagination import CursorPagination
from scrm.api.permissions import STAFF_ONLY
from scrm.tenancy.models import Role

from . import selectors
from .filters import AuditFilter
from .models import AuditEntry
from .serializers import AuditEntrySerializer


class AuditCursorPagination(CursorPagination):
    ordering = "-id"


class AuditViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """The brand's audit trail, newest first: who read a customer's unmasked phone, exported,
    erased, or changed consent. Append-only; owners only. Filters: action, customer,
    actor_kind, actor_user, since, until."""

    allowed_callers = STAFF_ONLY
    read_role = Role.OWNER
    serializer_class = AuditEntrySerializer
    queryset = AuditEntry.objects.none()  # for the schema only; get_queryset scopes by brand
    filterset_class = AuditFilter
    pagination_class = AuditCursorPagination

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return AuditEntry.objects.none()
        return selectors.audit_list(caller=self.request.auth)
