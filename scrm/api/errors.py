"""One error format for every 4xx/5xx: ``{"error": {"code", "message", "details"}}``."""

from __future__ import annotations

import logging

import redis
from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error

logger = logging.getLogger(__name__)


class Conflict(exceptions.APIException):
    """409; ``details`` (e.g. ``{"external_id": [...]}``) names the conflicting field."""

    status_code = status.HTTP_409_CONFLICT
    default_code = "conflict"
    default_detail = "The request conflicts with the current state."

    def __init__(self, detail=None, code=None, details: dict | None = None):
        super().__init__(detail, code)
        self.details = details or {}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_code = "payload_too_large"
    default_detail = "Request body is too large."


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_code = "service_unavailable"
    default_detail = "A backing service is unavailable; try again shortly."


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def _first_message(details, path: str = "") -> str:
    """A readable sentence naming the first offending field, e.g. ``phone: Enter a number``."""
    if isinstance(details, dict):
        for key, value in details.items():
            name = key if key != "non_field_errors" else ""
            return _first_message(value, f"{path}.{name}".strip(".") if name else path)
    if isinstance(details, list) and details:
        if all(isinstance(item, str) for item in details):
            return f"{path}: {details[0]}" if path else str(details[0])
        for index, item in enumerate(details):
            if item:
                return _first_message(item, f"{path}[{index}]")
    return f"{path}: {details}" if path else str(details)


def _plain(detail):
    if isinstance(detail, dict):
        return {key: _plain(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_plain(item) for item in detail]
    return str(detail)


def _still_referenced(exc: ProtectedError | RestrictedError) -> Conflict:
    """A delete refused by a protecting foreign key: a 409 naming what still refers to it."""
    objects = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", ())
    names = sorted({str(obj._meta.verbose_name_plural) for obj in objects})
    what = ", ".join(names) or "other rows"
    return Conflict(
        f"It cannot be deleted: {what} still refer to it.", details={"referenced_by": names}
    )


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(as_serializer_error(exc))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge(str(exc) or None)
    elif isinstance(exc, SuspiciousOperation):
        exc = exceptions.ParseError(str(exc))
    elif isinstance(exc, (ProtectedError, RestrictedError)):
        exc = _still_referenced(exc)
    elif isinstance(exc, IntegrityError):
        # A constraint the serializer could not see (a race): a conflict, not a crash.
        logger.info("integrity error answered 409: %s", exc)
        exc = Conflict("The change conflicts with existing data (a unique or related row).")
    elif isinstance(exc, (OperationalError, InterfaceError, redis.exceptions.ConnectionError)):
        logger.warning("backing service unavailable: %s", exc)
        exc = ServiceUnavailable()
    elif isinstance(exc, DatabaseError):
        logger.exception("database error", exc_info=exc)
        exc = ServiceUnavailable("The database rejected the request; try again shortly.")

    if not isinstance(exc, exceptions.APIException):
        logger.exception("unhandled error", exc_info=exc)
        return Response(
            error_body("server_error", "An unexpected error occurred."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        details = _plain(exc.detail)
        if not isinstance(details, dict):
            details = {"non_field_errors": details if isinstance(details, list) else [details]}
        body = error_body("validation_error", _first_message(details), details)
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = error_body(str(code), str(exc.detail), getattr(exc, "details", None))
    return Response(body, status=exc.status_code, headers=headers)


# Plain Django views (outside DRF): URL not found and crashes under /api/ answer JSON too.


def _is_api(request) -> bool:
    return request.path.startswith("/api/")


def not_found(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("not_found", "No such endpoint."), status=404)
    return defaults.page_not_found(request, exception)


def server_error(request):
    if _is_api(request):
        return JsonResponse(error_body("server_error", "An unexpected error occurred."), status=500)
    return defaults.server_error(request)


def bad_request(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "Bad request."), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request, exception=None):
    if _is_api(request):
        return JsonResponse(error_body("permission_denied", "Forbidden."), status=403)
    return defaults.permission_denied(request, exception)
