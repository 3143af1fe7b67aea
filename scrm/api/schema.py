"""OpenAPI generation: every operation documents its error answers with the one error schema.

``AutoSchema`` (``DEFAULT_SCHEMA_CLASS``) adds the 4xx responses each operation can give —
400 always, 401/403 when it needs credentials, 404 on a path with an id, 409 and 413 on writes,
429 when throttled — each with the ``Error`` component, and gives that schema to 4xx answers
a view documented with a description only. Security requirements come from the caller kinds
each view allows (``scrm.api.authentication``).
"""

from __future__ import annotations

from drf_spectacular import openapi
from drf_spectacular.plumbing import ResolvedComponent

ERROR_SCHEMA = {
    "type": "object",
    "description": 'Every 4xx and 5xx: `{"error": {"code", "message", "details"}}`.',
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {
                    "type": "string",
                    "description": "Machine-readable, e.g. validation_error, not_found.",
                },
                "message": {
                    "type": "string",
                    "description": "A sentence; for bad input it starts with the field name.",
                },
                "details": {
                    "type": "object",
                    "additionalProperties": True,
                    "description": "For bad input: each field (or parameter) → its messages.",
                },
            },
            "required": ["code", "message", "details"],
        }
    },
    "required": ["error"],
}

ERROR_DESCRIPTIONS = {
    "400": "Bad input: the message and details name the field or query parameter.",
    "401": "No credentials, or invalid, expired or revoked ones.",
    "403": "This caller kind or staff role may not do this, or not on this row.",
    "404": "No such row in the caller's brand.",
    "409": "Conflicts with existing data (a duplicate, a locked field, a bad transition).",
    "413": "The request body is larger than the limit of this path.",
    "429": "Too many requests; retry after the Retry-After header's seconds.",
}

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        component = ResolvedComponent(
            name="Error", type=ResolvedComponent.SCHEMA, object="Error", schema=ERROR_SCHEMA
        )
        registry.register_on_missing(component)
        content = {"application/json": {"schema": component.ref}}
        responses = operation.setdefault("responses", {})
        for code in self._error_codes(path, method, operation):
            response = responses.setdefault(code, {"description": ERROR_DESCRIPTIONS[code]})
            response["content"] = content
        for code, response in responses.items():  # documented by a description only
            if code.startswith("4") and "content" not in response:
                response["content"] = content
        return operation

    def _error_codes(self, path: str, method: str, operation: dict) -> list[str]:
        codes = ["400"]
        if any(requirement for requirement in operation.get("security", [])):
            codes += ["401", "403"]
        if "{" in path:
            codes.append("404")
        if method.upper() in WRITE_METHODS:
            codes += ["409", "413"]
        if getattr(self.view, "throttle_classes", None):
            codes.append("429")
        return codes
