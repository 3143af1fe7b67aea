"""Health, readiness and failure answers: every 4xx/5xx in the one error format."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connections
from django.test import override_settings

from customers.models import Customer
from scrm.devservers import free_port

ROOT = Path(__file__).resolve().parent.parent


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


@contextlib.contextmanager
def database_unreachable():
    """Point the default connection at a closed local port; restore it afterwards.

    The next query opens a new connection, which is refused: the same OperationalError a
    stopped or unreachable PostgreSQL gives.
    """
    connection = connections["default"]
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(HOST="127.0.0.1", PORT=str(free_port()))
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def closed_redis_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


# --- /healthz and /readyz ----------------------------------------------------------------


def test_healthz_answers_ok_without_touching_backing_services(client):
    # when the liveness probe is called, even with the database out of reach
    with database_unreachable():
        response = client.get("/healthz")

    # then the process says it is up
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_every_check_when_all_are_up(client):
    # when
    response = client.get("/readyz")

    # then database, Redis and the broker were each reached
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "redis", "broker"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db
def test_readyz_is_503_naming_redis_and_broker_when_redis_is_down(client):
    # given Redis (cache and broker) on a port nobody listens on
    down = closed_redis_url()
    with override_settings(REDIS_URL=down, CELERY_BROKER_URL=down):
        # when
        response = client.get("/readyz")

    # then not ready, and the failed checks are named; the database is fine
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["redis"]["ok"] is False
    assert body["checks"]["broker"]["ok"] is False
    assert body["checks"]["redis"]["error"] == "ConnectionError"
    assert body["checks"]["database"]["ok"] is True


@pytest.mark.django_db
def test_readyz_is_503_naming_only_the_broker_when_only_the_broker_is_down(client):
    # given a broker URL of its own that is unreachable
    with override_settings(CELERY_BROKER_URL=closed_redis_url()):
        response = client.get("/readyz")

    # then
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert checks["redis"]["ok"] is True
    assert checks["database"]["ok"] is True


@pytest.mark.django_db(transaction=True)
def test_readyz_is_503_naming_the_database_when_it_is_down(client):
    # given PostgreSQL out of reach
    with database_unreachable():
        # when
        response = client.get("/readyz")

    # then the database check failed and the others did not
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": False, "error": "OperationalError"}
    assert checks["redis"]["ok"] is True
    assert checks["broker"]["ok"] is True
    # and once it is back, the service is ready again
    assert client.get("/readyz").status_code == 200


# --- Errors outside and inside the API -----------------------------------------------------


@pytest.mark.django_db
def test_unknown_api_path_is_a_json_404_in_the_error_format(client, staff_client):
    for caller in (client, staff_client):
        response = caller.get("/api/v1/no-such-thing/")
        assert_error(response, 404, "not_found")
    response = client.post("/api/nowhere", data="{}", content_type="application/json")
    assert_error(response, 404, "not_found")


@pytest.mark.django_db
def test_unknown_page_outside_the_api_is_not_json(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_body_over_the_limit_is_413_in_the_error_format_and_writes_nothing(staff_client):
    # given a 1 kB body limit and a 4 kB customer
    body = {"external_id": "big-one", "display_name": "x" * 100, "tags": ["t" * 39] * 100}
    assert len(json.dumps(body)) > 4000
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024):
        # when
        response = staff_client.post("/api/v1/customers/", body, format="json")

    # then 413 names the limit, and nothing was created
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"]["limit"] == 1024
    assert error["details"]["length"] > 4000
    assert not Customer.objects.filter(external_id="big-one").exists()


@pytest.mark.django_db
def test_body_under_the_limit_is_accepted(staff_client):
    # given the same small limit, a small body passes the size check
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024):
        response = staff_client.post("/api/v1/customers/", {"external_id": "ok"}, format="json")
    assert response.status_code == 201, response.content


@pytest.mark.django_db
def test_anonymous_oversized_body_is_413_before_authentication(client):
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        response = client.post(
            "/api/v1/auth/token/", data="x" * 500, content_type="application/json"
        )
    assert_error(response, 413, "payload_too_large")


@pytest.mark.django_db(transaction=True)
def test_database_down_during_api_calls_is_503_not_500(staff_client, app_client):
    # given callers whose credentials were issued while the database was up
    with database_unreachable():
        # when they read and write
        reads = [c.get("/api/v1/customers/") for c in (staff_client, app_client)]
        write = app_client.post("/api/v1/customers/", {"external_id": "x"}, format="json")
        token = staff_client.post(
            "/api/v1/auth/token/", {"username": "a", "password": "b"}, format="json"
        )

    # then each answers 503 in the error format
    for response in [*reads, write, token]:
        assert_error(response, 503, "service_unavailable")
    # and the write did not happen
    assert not Customer.objects.filter(external_id="x").exists()


# --- Production settings -------------------------------------------------------------------


def run_manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "ALLOWED_HOSTS"}}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, "DJANGO_SETTINGS_MODULE": "scrm.settings.production", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_check_deploy_without_warnings():
    # given production settings with a real secret
    result = run_manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        SECRET_KEY=secrets.token_urlsafe(48),
        ALLOWED_HOSTS="scrm.example.com",
        DATABASE_URL="postgres://scrm@db.example.com:5432/scrm",
    )

    # then Django's deployment checklist finds nothing
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "secret", ["", "too-short", "local-insecure-" + "x" * 60], ids=["empty", "short", "local"]
)
def test_production_refuses_to_start_without_a_real_secret_key(secret):
    result = run_manage(
        "check",
        SECRET_KEY=secret,
        ALLOWED_HOSTS="scrm.example.com",
        DATABASE_URL="postgres://scrm@db.example.com:5432/scrm",
    )
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
