"""JSON request bodies with bounded nesting.

The body size is capped before parsing (``BodySizeLimitMiddleware``); this caps how deep the
parsed document may nest (``SCRM["JSON_MAX_DEPTH"]``): deeper documents are 400 naming the
limit, before a serializer, a recursive encoder or PostgreSQL's jsonb sees them.
"""

from __future__ import annotations

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError


def too_deep(value, limit: int) -> bool:
    """Whether ``value`` nests objects/arrays more than ``limit`` levels (iterative: no
    recursion however deep the input)."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def depth_error() -> ParseError:
    limit = settings.SCRM["JSON_MAX_DEPTH"]
    error = ParseError(f"JSON parse error - the document nests deeper than {limit} levels.")
    error.details = {"max_depth": limit}
    return error


def check_depth(data):
    if too_deep(data, settings.SCRM["JSON_MAX_DEPTH"]):
        raise depth_error()
    return data


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, with the nesting bound (and no RecursionError on absurd nesting)."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as exc:
            raise depth_error() from exc
        return check_depth(data)
