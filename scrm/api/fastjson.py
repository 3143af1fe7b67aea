"""orjson parser and renderer for hot JSON endpoints (the interaction batch).

Same media type and error behaviour as DRF's JSON parser and renderer, several times
cheaper for large bodies. orjson is stricter than the standard library: NaN/Infinity,
numbers that overflow a double, lone UTF-16 surrogates and a byte order mark are parse
errors (400), as PostgreSQL's jsonb would refuse them anyway.
"""

from __future__ import annotations

import orjson
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
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
