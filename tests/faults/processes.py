"""Real server processes for the fault tests: started, killed and restarted by the test itself.

Nothing here is a stand-in: ``devservers`` runs ``python -m scrm.devservers`` as ``make run``
and ``make test`` do; ``throwaway_postgres``/``throwaway_redis`` start a PostgreSQL and a
Valkey of the test's own (pip wheels, free loopback ports) that it may stop, flush and
restart without disturbing the suite's shared servers.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from scrm import devservers

ROOT = Path(__file__).resolve().parent.parent.parent


def wait_until(predicate: Callable[[], object], timeout: float = 60.0, step: float = 0.05):
    """Poll until ``predicate()`` is truthy (returned) or the bound passes (its last value)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return predicate()


def alive(pid: int) -> bool:
    return devservers._start_time(pid) is not None


# --- scrm.devservers as make run / make test start it ---------------------------------------


class Sandbox:
    """A private temporary directory, the ``TMPDIR`` of every devservers run of one test: their
    state files (``<tmp>/scrm-devservers``) and throwaway servers stay apart from other tests'
    and the suite's own. Reachable by the unprivileged PostgreSQL user, unlike pytest's
    0700 ``tmp_path``. ``data`` is a ``--data`` directory in it."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="scrm-fault-"))
        self.root.chmod(0o755)
        self.data = self.root / "data"
        self.state_dir = self.root / devservers.STATE_DIR.name

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
        return {**env, "TMPDIR": str(self.root)}

    def command(self, data_dir: Path | None, command: list[str]) -> list[str]:
        args = [sys.executable, "-m", "scrm.devservers"]
        if data_dir is not None:
            args += ["--data", str(data_dir)]
        return [*args, "--", *command]

    def start(self, data_dir: Path | None, *command: str) -> DevServers:
        return DevServers(self, data_dir, list(command))

    def run(self, data_dir: Path | None, *command: str) -> subprocess.CompletedProcess:
        """A whole devservers run to its end, as `make test` runs pytest."""
        return subprocess.run(
            self.command(data_dir, list(command)),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=180,
            env=self.env(),
        )

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class DevServers:
    """``python -m scrm.devservers [--data DIR] -- COMMAND`` in a session (process group) of its
    own, as a terminal runs ``make run``; ``kill_group`` is a closed terminal or a SIGKILL."""

    def __init__(self, sandbox: Sandbox, data_dir: Path | None, command: list[str]) -> None:
        self.sandbox = sandbox
        self.process = subprocess.Popen(
            sandbox.command(data_dir, command),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env=sandbox.env(),
        )
        self.banner = self.process.stdout.readline()
        assert self.banner.startswith("scrm.devservers: PostgreSQL"), (
            self.banner + self.process.stderr.read()
        )

    @property
    def state(self) -> dict:
        return json.loads(self.state_file.read_text())

    @property
    def state_file(self) -> Path:
        return self.sandbox.state_dir / f"{self.process.pid}.json"

    def server_pids(self) -> dict[str, int]:
        """The postmaster's pid (from postmaster.pid) and the Redis server's."""
        state = self.state
        postmaster = Path(state["postgres"]["pgdata"]) / "postmaster.pid"
        return {
            "postgres": int(postmaster.read_text().split("\n", 1)[0]),
            "redis": state["redis"]["pid"],
        }

    def watchdog_pid(self) -> int:
        marker = f"--watchdog\0{self.state_file}"
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                with contextlib.suppress(OSError):
                    if marker in (proc / "cmdline").read_text():
                        return int(proc.name)
        raise AssertionError("no watchdog process")

    def kill_group(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(60)
