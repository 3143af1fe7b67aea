"""docker-compose.yml stays valid and in step with the code: every queue has a worker, every
periodic schedule is installed, every variable it sets is a documented setting."""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
import yaml
from django.conf import settings

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def schedule_commands() -> set[str]:
    """Every `install_*_schedule` management command of the project."""
    return {
        path.stem
        for path in ROOT.glob("*/management/commands/install_*_schedule.py")
        if ".venv" not in path.parts
    }


COMPOSE_WHEEL_SPEC = "docker-compose==1.29.2"
COMPOSE_WHEEL_NAME = "docker_compose-1.29.2-py2.py3-none-any.whl"
CACHE = ROOT / "bench" / ".cache"
INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


@pytest.fixture(scope="module")
def compose_spec_schema() -> dict:
    """The Compose specification's JSON schema, as docker-compose 1.29.2 ships it (the wheel is
    fetched from the package index once into ``bench/.cache``; its dependencies are not needed)."""
    wheel = CACHE / COMPOSE_WHEEL_NAME
    if not wheel.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             COMPOSE_WHEEL_SPEC, "-d", str(CACHE)],
            check=True,
        )  # fmt: skip
    with zipfile.ZipFile(wheel) as archive:
        return json.loads(archive.read("compose/config/compose_spec.json"))


def interpolated(value):
    """The parsed compose file as Compose sees it with an empty environment: ``${X:-d}`` → ``d``
    inside string values (interpolation happens after parsing, so values stay strings)."""
    if isinstance(value, dict):
        return {key: interpolated(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolated(item) for item in value]
    if isinstance(value, str):
        return INTERPOLATION.sub(lambda m: m["default"] or "", value)
    return value


def test_compose_file_matches_the_compose_specification(compose_spec_schema):
    validator = jsonschema.Draft7Validator(compose_spec_schema)
    document = interpolated(COMPOSE)

    errors = [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(document)]
    assert errors == []


def test_the_specification_check_rejects_a_broken_file(compose_spec_schema):
    validator = jsonschema.Draft7Validator(compose_spec_schema)
    broken = copy.deepcopy(interpolated(COMPOSE))
    broken["services"]["web"]["depends_on"] = {"db": {"condition": "when_ready"}}
    broken["services"]["worker"]["restartt"] = "always"

    assert len(list(validator.iter_errors(broken))) == 2


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
    )

    assert result.returncode == 0, result.stderr


def test_web_migrates_and_installs_every_periodic_schedule_before_serving():
    command = SERVICES["web"]["command"]
    commands = schedule_commands()

    assert {"install_scoring_schedule", "install_publishing_schedule"} <= commands
    for name in ["migrate", *sorted(commands)]:
        assert f"manage.py {name}" in command, name
    assert command.index("migrate") < command.index("gunicorn")


def test_worker_consumes_every_routed_queue_and_beat_runs():
    worker = SERVICES["worker"]["command"]
    queues = set(re.search(r"-Q\s+(\S+)", worker).group(1).split(","))

    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert routed | {settings.CELERY_TASK_DEFAULT_QUEUE} <= queues
    assert "beat" in SERVICES["beat"]["command"]


def test_every_variable_compose_sets_is_documented_in_the_readme():
    readme = (ROOT / "README.md").read_text()
    environment = COMPOSE["x-django"]["environment"]

    missing = [
        name
        for name in environment
        if name != "DJANGO_SETTINGS_MODULE" and f"`{name}`" not in readme
    ]
    assert missing == []


def test_every_service_has_a_health_check_and_a_restart_policy():
    for name, service in SERVICES.items():
        healthcheck = service.get("healthcheck") or {}  # (the YAML anchor is merged in)
        assert healthcheck.get("test") and not healthcheck.get("disable"), name
        assert service.get("restart") in {"always", "unless-stopped", "on-failure"}, name


def test_beat_health_check_fails_without_its_process_and_passes_with_it(tmp_path, monkeypatch):
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location("healthcheck", ROOT / "scripts/healthcheck.py")
    healthcheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(healthcheck)
    pidfile = tmp_path / "beat.pid"
    monkeypatch.setattr(healthcheck, "BEAT_PIDFILE", str(pidfile))
    monkeypatch.setenv("CELERY_BROKER_URL", settings.REDIS_URL)

    with pytest.raises(OSError):
        healthcheck.beat()  # no pid file: beat is not running
    pidfile.write_text(str(os.getpid()))
    healthcheck.beat()  # a live process and a broker answering PING
