from django.conf import settings
from django.http import JsonResponse
from django.urls import is_valid_path

from .errors import error_body


class BodySizeLimitMiddleware:
    """Answer 413 before reading a body larger than the path's limit.

    DRF's JSON parser reads the stream itself, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE does
    not apply to API bodies; this enforces it (and a larger cap for batch ingest).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        for suffix, path_limit in settings.SCRM["BODY_LIMITS_BY_PATH_SUFFIX"].items():
            if request.path.endswith(suffix):
                limit = path_limit
                break
        if limit and length > limit:
            return JsonResponse(
                error_body(
                    "payload_too_large",
                    f"Request body is {length} bytes; the limit here is {limit}.",
                    {"limit": limit, "length": length},
                ),
                status=413,
            )
        return self.get_response(request)


class ApiTrailingSlashMiddleware:
    """A write to an API path without its trailing slash answers 404 naming the right URL.

    Django's ``APPEND_SLASH`` redirects (301, empty body) and cannot redirect a POST, PUT,
    PATCH or DELETE without losing its body (it raises in DEBUG). Reads keep the redirect.
    Placed before ``CommonMiddleware``.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if (
            path.startswith("/api/")
            and not path.endswith("/")
            and request.method not in ("GET", "HEAD", "OPTIONS")
            and not is_valid_path(path, getattr(request, "urlconf", None))
            and is_valid_path(f"{path}/", getattr(request, "urlconf", None))
        ):
            right = f"{request.path}/"
            return JsonResponse(
                error_body(
                    "not_found",
                    f"No such endpoint; API paths end with a slash: {request.method} {right}",
                    {"path": request.path, "location": right},
                ),
                status=404,
            )
        return self.get_response(request)
