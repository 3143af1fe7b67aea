"""Rate limits keyed by who is calling (an app key, a staff member), not only by address."""

from __future__ import annotations

import logging

import redis
from rest_framework.throttling import ScopedRateThrottle, SimpleRateThrottle

from scrm.tenancy.services import Caller

logger = logging.getLogger(__name__)


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


class IngestRateThrottle(CallerScopedRateThrottle):
    """The ``ingest`` rate (``INGEST_THROTTLE_RATE``) per app key (or staff member, or
    customer), on writes only: listing the log is not ingest.

    Over the rate: 429 with ``Retry-After``. With Redis unreachable the limit is not applied
    rather than refusing events PostgreSQL can still store durably (logged as a warning).
    """

    scope = "ingest"

    def __init__(self):  # the scope is fixed, not the view's throttle_scope
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)

    def allow_request(self, request, view) -> bool:
        if request.method != "POST":
            return True
        try:
            return SimpleRateThrottle.allow_request(self, request, view)
        except redis.exceptions.RedisError as exc:
            logger.warning("ingest rate limit not applied, Redis unreachable: %s", exc)
            return True
