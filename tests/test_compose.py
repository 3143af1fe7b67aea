"""docker-compose.yml stays valid and in step with the code: every queue has a worker, every
periodic schedule is installed, every variable it sets is a documented setting."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

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


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_file_is_valid():
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
