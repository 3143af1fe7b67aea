"""Who may call what: caller kinds per view and action, staff role for reads and writes.

Views declare it; ``IsBrandCaller`` enforces it and the OpenAPI schema documents it (each
operation's ``security`` is derived from ``callers_for``, see ``scrm.api.authentication``):

- ``allowed_callers``: the caller kinds of the view (default: staff and app keys);
- ``action_callers``: per action (viewsets) or lower-case HTTP method (plain views), overriding
  ``allowed_callers``;
- ``read_role`` / ``write_role`` (defaults analyst / operator) and ``action_roles`` per action:
  the staff role needed. App keys count as operators, so an action that needs a manager is
  not available to them.
"""

from __future__ import annotations

from rest_framework import permissions

from scrm.tenancy.models import ROLE_RANK, Role
from scrm.tenancy.services import Caller, CallerKind

STAFF_ONLY = frozenset({CallerKind.STAFF})
STAFF_AND_APP = frozenset({CallerKind.STAFF, CallerKind.APP})
STAFF_AND_CUSTOMER = frozenset({CallerKind.STAFF, CallerKind.CUSTOMER})
ALL_CALLERS = frozenset({CallerKind.STAFF, CallerKind.APP, CallerKind.CUSTOMER})
APP_KEY_ROLE = Role.OPERATOR  # what an app key may do, in staff roles


def caller_of(request) -> Caller:
    return request.auth


def _action_key(view, method: str) -> str:
    return getattr(view, "action", None) or method.lower()


def required_role(view, method: str) -> str:
    """The staff role the view's action (or method) needs."""
    roles = getattr(view, "action_roles", {})
    key = _action_key(view, method)
    if key in roles:
        return roles[key]
    if method.upper() in permissions.SAFE_METHODS:
        return getattr(view, "read_role", Role.ANALYST)
    return getattr(view, "write_role", Role.OPERATOR)


def callers_for(view, method: str) -> frozenset[CallerKind]:
    """The caller kinds that may call ``method`` on ``view`` (for its current action)."""
    kinds = getattr(view, "action_callers", {}).get(
        _action_key(view, method), getattr(view, "allowed_callers", STAFF_AND_APP)
    )
    if ROLE_RANK[Role(required_role(view, method))] > ROLE_RANK[APP_KEY_ROLE]:
        kinds = kinds - {CallerKind.APP}
    return frozenset(kinds)


class IsBrandCaller(permissions.BasePermission):
    """The request carries a Caller of a kind the view allows, with the role it needs.

    Object-level rules for customer callers live in the views' querysets and services.
    """

    message = "You may not perform this action."

    def has_permission(self, request, view) -> bool:
        caller = request.auth
        if not isinstance(caller, Caller):
            return False
        if caller.kind not in callers_for(view, request.method):
            self.message = f"This endpoint is not available to {caller.kind} callers."
            return False
        if caller.kind is CallerKind.CUSTOMER:
            return True
        needed = required_role(view, request.method)
        if not caller.has_role(needed):
            self.message = f"Your role may not do this; it needs {needed} or above."
            return False
        return True
