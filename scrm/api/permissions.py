"""Who may call what: caller kind per view, staff role for writes."""

from __future__ import annotations

from rest_framework import permissions

from scrm.tenancy.models import Role
from scrm.tenancy.services import Caller, CallerKind

STAFF_AND_APP = frozenset({CallerKind.STAFF, CallerKind.APP})
ALL_CALLERS = frozenset({CallerKind.STAFF, CallerKind.APP, CallerKind.CUSTOMER})


def caller_of(request) -> Caller:
    return request.auth


class IsBrandCaller(permissions.BasePermission):
    """The request carries a Caller of a kind the view allows, with the role it needs.

    Views set ``allowed_callers`` (default: staff and app keys), ``read_role`` (default
    analyst) and ``write_role`` (default operator). Object-level rules for customer callers
    live in the views' querysets and services.
    """

    message = "You may not perform this action."

    def has_permission(self, request, view) -> bool:
        caller = request.auth
        if not isinstance(caller, Caller):
            return False
        allowed = getattr(view, "allowed_callers", STAFF_AND_APP)
        if caller.kind not in allowed:
            self.message = f"This endpoint is not available to {caller.kind} callers."
            return False
        if caller.kind is CallerKind.CUSTOMER:
            return True
        if request.method in permissions.SAFE_METHODS:
            needed = getattr(view, "read_role", Role.ANALYST)
        else:
            needed = getattr(view, "write_role", Role.OPERATOR)
        if not caller.has_role(needed):
            self.message = f"Your role may not do this; it needs {needed} or above."
            return False
        return True
