"""The OpenAPI schema: generated without warnings, complete, with auth; docs served locally."""

from __future__ import annotations

import re

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS

from .test_contract import OPERATIONS, SPEC_PATHS, _template

SCHEMES = {"staffTokenAuth", "customerTokenAuth", "appKeyAuth", "sessionAuth"}
SCHEMES_OF_KIND = {
    "staff": {"staffTokenAuth", "sessionAuth"},
    "app": {"appKeyAuth"},
    "customer": {"customerTokenAuth"},
}
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema(tmp_path_factory) -> dict:
    """Generate with --validate --fail-on-warn: any warning or invalid document fails here."""
    target = tmp_path_factory.mktemp("schema") / "openapi.yaml"
    GENERATOR_STATS.reset()  # count only this generation's warnings
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(target))
    return yaml.safe_load(target.read_text())


def test_schema_generates_valid_without_warnings(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "scrm API"


@pytest.mark.parametrize("path", sorted(SPEC_PATHS))
def test_schema_lists_every_contract_path_and_method(schema, path):
    assert SPEC_PATHS[path] <= set(schema["paths"][f"/api/v1/{path}"])


@pytest.mark.parametrize(
    ("method", "path", "callers"),
    [(op.method, _template(op), op.callers) for op in OPERATIONS],
    ids=[op.name for op in OPERATIONS],
)
def test_security_lists_exactly_the_caller_kinds_that_may_call(schema, method, path, callers):
    # OPERATIONS holds the kinds the HTTP tests of test_contract.py prove may (and may not) call
    operation = schema["paths"][f"/api/v1/{path}"][method]
    names = {name for requirement in operation["security"] for name in requirement}
    assert names == set().union(*(SCHEMES_OF_KIND[kind] for kind in callers))
    assert all(len(requirement) == 1 for requirement in operation["security"])  # any one


def test_staff_token_endpoint_needs_no_credentials(schema):
    operation = schema["paths"]["/api/v1/auth/token/"]["post"]
    assert not any(operation.get("security", []))  # absent, or only the empty requirement


def test_security_schemes_are_defined(schema):
    defined = schema["components"]["securitySchemes"]
    assert set(defined) == SCHEMES
    for name in ("staffTokenAuth", "customerTokenAuth"):
        assert defined[name]["type"] == "http"
        assert defined[name]["scheme"] == "bearer"
    assert defined["appKeyAuth"]["in"] == "header"
    assert defined["appKeyAuth"]["name"] == "Authorization"


def _operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield path, method, operation


def test_every_4xx_answer_has_the_error_schema(schema):
    for path, method, operation in _operations(schema):
        errors = {code: r for code, r in operation["responses"].items() if code.startswith("4")}
        assert "400" in errors, (path, method)
        if any(operation.get("security", [])):
            assert {"401", "403"} <= set(errors), (path, method)
        if "{" in path:
            assert "404" in errors, (path, method)
        if method != "get":
            assert "413" in errors, (path, method)
        for code, response in errors.items():
            assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}, (
                path,
                method,
                code,
            )


def test_the_token_endpoints_document_429(schema):
    for path in ("/api/v1/auth/token/", "/api/v1/auth/customer-token/"):
        assert "429" in schema["paths"][path]["post"]["responses"]


def test_the_error_component_matches_the_answers(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    assert error["properties"]["error"]["required"] == ["code", "message", "details"]


def test_operation_ids_are_unique(schema):
    ids = [
        operation["operationId"]
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict) and "operationId" in operation
    ]
    assert len(ids) == len(set(ids))


@pytest.mark.django_db
def test_schema_endpoint_serves_the_same_paths(client, schema):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert set(response.json()["paths"]) == set(schema["paths"])


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_docs_reference_only_local_assets(client, page):
    # when the docs page is rendered
    response = client.get(page)
    assert response.status_code == 200
    html = response.content.decode()

    # then it links no other host, and every asset it names is served by this process
    assert not re.search(r"""(?:src|href)\s*=\s*["']\s*(?:https?:)?//""", html)
    assert not re.search(r"https?://(?!127\.0\.0\.1|localhost|testserver)", html)
    assets = re.findall(r"""(?:src|href)=["'](/static/[^"']+)["']""", html)
    assert assets, "the docs page should load its JS and CSS from /static/"
    for asset in assets:
        served = client.get(asset)
        assert served.status_code == 200, asset
        b"".join(served.streaming_content) if served.streaming else served.content


def test_operations_are_grouped_by_resource(schema):
    # tags come from the resource after /api/v1 (one "v1" group would bury 46 operations)
    tags = {
        path: {tag for operation in item.values() if isinstance(operation, dict)
               for tag in operation.get("tags", [])}
        for path, item in schema["paths"].items()
    }  # fmt: skip
    assert tags["/api/v1/customers/"] == {"customers"}
    assert tags["/api/v1/posts/{id}/publish/"] == {"posts"}
    assert tags["/api/v1/interactions/batch/"] == {"interactions"}
    assert not any("v1" in found for found in tags.values())
