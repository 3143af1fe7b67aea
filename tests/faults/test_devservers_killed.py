"""`make run` / `make test` killed hard: the embedded PostgreSQL and Redis do not outlive them,
and the next start finds whatever did and stops it instead of dying on pg_ctl.

Each test starts ``python -m scrm.devservers`` for real (its own servers on free ports) and
kills its whole process group with SIGKILL, as a closed terminal or ``kill -9 -PGID`` does.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from .processes import Sandbox, alive, wait_until

pytestmark = pytest.mark.faults

CHECK_DATABASE = [
    sys.executable,
    "-c",
    "import os, psycopg; psycopg.connect(os.environ['DATABASE_URL'].replace('postgres://', "
    "'postgresql://')).execute('select 1'); print('database answers')",
]


@pytest.fixture
def sandbox():
    box = Sandbox()
    yield box
    box.remove()


def test_make_run_killed_hard_leaves_no_server_and_the_next_start_works(sandbox):
    # given `make run` (a kept --data cluster) serving
    run = sandbox.start(sandbox.data, "sleep", "600")
    pids = run.server_pids()
    assert all(alive(pid) for pid in pids.values())

    # when its process group is killed with SIGKILL
    run.kill_group()

    # then its watchdog stops PostgreSQL and Redis
    assert wait_until(lambda: not any(alive(pid) for pid in pids.values())), pids
    # and the next start comes up on the same cluster
    again = sandbox.run(sandbox.data, *CHECK_DATABASE)
    assert again.returncode == 0, again.stderr
    assert "database answers" in again.stdout
    assert "earlier run" not in again.stderr


def test_next_start_stops_servers_whose_run_and_watchdog_were_both_killed(sandbox):
    # given `make run` serving, then killed together with its watchdog (nothing stopped)
    run = sandbox.start(sandbox.data, "sleep", "600")
    pids = run.server_pids()
    os.kill(run.watchdog_pid(), signal.SIGKILL)
    run.kill_group()
    assert all(alive(pid) for pid in pids.values())

    # when it is started again
    again = sandbox.run(sandbox.data, *CHECK_DATABASE)

    # then it says in one line what it stopped, stopped it, and runs
    assert again.returncode == 0, again.stderr
    assert "database answers" in again.stdout
    assert again.stderr.splitlines() == [
        f"scrm.devservers: stopping the servers left running by an earlier run "
        f"(pid {run.process.pid})"
    ]
    assert not any(alive(pid) for pid in pids.values())


def test_next_start_stops_a_postgres_left_in_the_data_directory_without_a_record(sandbox):
    # given a PostgreSQL still running in the directory with no record of who started it, as
    # a run of an earlier version of scrm.devservers leaves it
    run = sandbox.start(sandbox.data, "sleep", "600")
    pids = run.server_pids()
    os.kill(run.watchdog_pid(), signal.SIGKILL)
    run.kill_group()
    run.state_file.unlink()
    os.kill(pids["redis"], signal.SIGTERM)

    # when it is started again
    again = sandbox.run(sandbox.data, *CHECK_DATABASE)

    # then the old postmaster is named in one line and stopped, and the new one answers
    assert again.returncode == 0, again.stderr
    assert again.stderr.splitlines() == [
        f"scrm.devservers: stopping the PostgreSQL an earlier run left running in "
        f"{sandbox.data} (pid {pids['postgres']})"
    ]
    assert "database answers" in again.stdout
    assert not alive(pids["postgres"])


def test_a_data_directory_in_use_by_a_live_run_is_refused_in_one_line(sandbox):
    run = sandbox.start(sandbox.data, "sleep", "600")
    try:
        # when a second `make run` starts on the same directory
        second = sandbox.run(sandbox.data, "true")

        # then it refuses, saying what to do, and the first one still serves
        assert second.returncode == 1
        assert len(second.stderr.strip().splitlines()) == 1, second.stderr
        assert "in use by a running scrm.devservers" in second.stderr
        assert f"kill {run.process.pid}" in second.stderr
        assert all(alive(pid) for pid in run.server_pids().values())
    finally:
        run.stop()


def test_make_test_killed_hard_removes_its_throwaway_servers_and_files(sandbox):
    # given `make test` (throwaway cluster) running
    run = sandbox.start(None, "sleep", "600")
    pids = run.server_pids()
    state = run.state
    throwaway = [Path(state["postgres"]["remove"]), Path(state["redis"]["workdir"])]
    assert all(path.exists() for path in throwaway)

    # when it is killed hard
    run.kill_group()

    # then the servers stop, their directories go, and so does the run's state file
    assert wait_until(lambda: not any(alive(pid) for pid in pids.values())), pids
    assert wait_until(lambda: not any(path.exists() for path in throwaway)), throwaway
    assert wait_until(lambda: not run.state_file.exists())
