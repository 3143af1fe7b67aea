import base64
import binascii
import json
import math
from dataclasses import dataclass

from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param


def page_url(request) -> str:
    """The request's absolute URL, for the ``next`` and ``previous`` links.

    A client may send a query string with raw UTF-8 (``curl '…?search=王'``): WSGI hands it to
    Django as Latin-1 text, and ``build_absolute_uri()`` would percent-encode that text as it
    is, so a link followed would ask for ``search=ç\x8e\x8b``. ``request.GET`` decodes it
    right; the links are built from it then (percent-encoded UTF-8, as a client sends)."""
    if request.META.get("QUERY_STRING", "").isascii():
        return request.build_absolute_uri()
    return request.build_absolute_uri(f"{request.path}?{request.GET.urlencode()}")


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

    def paginate_queryset(self, queryset, request, view=None):
        page = super().paginate_queryset(queryset, request, view)
        self.base_url = page_url(request)
        return page

    def decode_cursor(self, request):
        """A cursor that does not decode is a 400 naming ``cursor`` (DRF answers 404)."""
        try:
            return super().decode_cursor(request)
        except NotFound:
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None


@dataclass(frozen=True)
class Keyset:
    """A page request over rows ranked by ``(score DESC, id DESC)`` in SQL.

    ``after`` is the ``(score, id)`` of the row the page starts beyond (None: the first page);
    ``backwards`` walks towards higher scores (a "previous" link). Selectors fetch ``limit``
    rows (one more than the page, to know whether there is a further page)."""

    limit: int
    after: tuple[float, int] | None = None
    backwards: bool = False

    def sql(self, score: str = "score", key: str = "id") -> tuple[str, str, list]:
        """(WHERE condition, ORDER BY, params) for the ranked relation's columns."""
        if self.after is None:
            return "TRUE", f"{score} DESC, {key} DESC", []
        if self.backwards:
            return f"({score}, {key}) > (%s, %s)", f"{score} ASC, {key} ASC", list(self.after)
        return f"({score}, {key}) < (%s, %s)", f"{score} DESC, {key} DESC", list(self.after)


class KeysetPagination:
    """``next`` / ``previous`` / ``results`` pages of a ranking computed in SQL (the ORM
    cursor paginator needs a queryset). The cursor is opaque: base64 of the boundary row's
    ``(score, id)`` and the direction. Scores are rounded in SQL so they compare exactly."""

    cursor_query_param = "cursor"
    page_size_query_param = "page_size"

    def __init__(self) -> None:
        self.sizer = CursorPagination()
        self.next_url: str | None = None
        self.previous_url: str | None = None

    def keyset(self, request) -> Keyset:
        self.request = request
        self.page_size = self.sizer.get_page_size(request)
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return Keyset(limit=self.page_size + 1)
        try:
            decoded = json.loads(base64.urlsafe_b64decode(raw.encode()).decode())
            after = (float(decoded["s"]), int(decoded["i"]))
            backwards = bool(decoded.get("b", False))
        except (ValueError, KeyError, TypeError, UnicodeError, binascii.Error):
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None
        if not math.isfinite(after[0]):
            raise ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return Keyset(limit=self.page_size + 1, after=after, backwards=backwards)

    def paginate(self, rows: list, keyset: Keyset, key=lambda row: (row["score"], row["id"])):
        """The page (best first) from the rows a selector fetched for ``keyset``."""
        more = len(rows) > self.page_size
        rows = rows[: self.page_size]
        if keyset.backwards:
            rows.reverse()
        has_next = (more and not keyset.backwards) or (keyset.backwards and keyset.after)
        has_previous = (more and keyset.backwards) or (not keyset.backwards and keyset.after)
        self.next_url = self._link(key(rows[-1]), False) if rows and has_next else None
        self.previous_url = self._link(key(rows[0]), True) if rows and has_previous else None
        return rows

    def _link(self, position: tuple[float, int], backwards: bool) -> str:
        payload = {"s": position[0], "i": position[1], **({"b": 1} if backwards else {})}
        token = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()
        return replace_query_param(page_url(self.request), self.cursor_query_param, token)

    def get_paginated_response(self, data) -> Response:
        return Response({"next": self.next_url, "previous": self.previous_url, "results": data})

    def get_paginated_response_schema(self, schema: dict) -> dict:
        return self.sizer.get_paginated_response_schema(schema)

    def get_schema_operation_parameters(self, view) -> list[dict]:
        return self.sizer.get_schema_operation_parameters(view)
