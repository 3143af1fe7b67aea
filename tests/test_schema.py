"""The OpenAPI schema: generated without warnings, complete, with auth; docs served locally."""

from __future__ import annotations

import re

import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS

CONTRACT_PATHS = [
    "auth/token/",
    "auth/customer-token/",
    "customers/",
    "customers/{id}/",
    "customers/{id}/friends/",
    "friendships/",
    "friendships/{id}/",
    "advocates/",
    "advocates/{id}/",
]
SCHEMES = {"bearerAuth", "appKeyAuth", "sessionAuth"}


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


@pytest.mark.parametrize("path", CONTRACT_PATHS)
def test_schema_lists_every_contract_path(schema, path):
    assert f"/api/v1/{path}" in schema["paths"]


@pytest.mark.parametrize("path", [p for p in CONTRACT_PATHS if p != "auth/token/"])
def test_every_authenticated_operation_names_its_security_schemes(schema, path):
    for method, operation in schema["paths"][f"/api/v1/{path}"].items():
        names = {name for requirement in operation["security"] for name in requirement}
        assert {"bearerAuth", "appKeyAuth"} <= names, (path, method)
        assert names <= SCHEMES


def test_staff_token_endpoint_needs_no_credentials(schema):
    operation = schema["paths"]["/api/v1/auth/token/"]["post"]
    assert not any(operation.get("security", []))  # absent, or only the empty requirement


def test_security_schemes_are_defined(schema):
    defined = schema["components"]["securitySchemes"]
    assert set(defined) == SCHEMES
    assert defined["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "description": defined["bearerAuth"]["description"],
    }
    assert defined["appKeyAuth"]["in"] == "header"
    assert defined["appKeyAuth"]["name"] == "Authorization"


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
