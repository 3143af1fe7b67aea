"""Rate limits keyed by who is calling (an app key, a staff member), not only by address."""

from __future__ import annotations

from rest_framework.throttling import ScopedRateThrottle

from scrm.tenancy.services import Caller


class CallerScopedRateThrottle(ScopedRateThrottle):
    """``ScopedRateThrottle`` (the view's ``throttle_scope``) per authenticated caller.

    App keys and staff share nothing with the brand's other credentials; unauthenticated
    requests fall back to the client address.
    """

    def get_cache_key(self, request, view) -> str:
        caller = request.auth
        if isinstance(caller, Caller):
            who = caller.app_key_id or caller.user_id or caller.customer_id
            ident = f"{caller.kind}:{caller.brand_id}:{who}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
