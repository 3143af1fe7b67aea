from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import ValidationError


class CursorPagination(pagination.CursorPagination):
    """Opaque-cursor pages (``next``, ``previous``, ``results``) with a capped ``page_size``.

    An out-of-range ``page_size`` is a 400 naming the limit, not silently clamped.
    """

    ordering = "-id"
    page_size_query_param = "page_size"

    def __init__(self) -> None:
        self.page_size = settings.SCRM["PAGE_SIZE"]
        self.max_page_size = settings.SCRM["MAX_PAGE_SIZE"]

    def get_page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({"page_size": ["Must be an integer."]}) from None
        if size < 1 or size > self.max_page_size:
            raise ValidationError({"page_size": [f"Must be between 1 and {self.max_page_size}."]})
        return size
