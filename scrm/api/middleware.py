from django.conf import settings
from django.http import JsonResponse

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
