"""Container health checks. Exit 0 when healthy, 1 otherwise.

    python scripts/healthcheck.py          # web: GET /healthz on the local gunicorn
    python scripts/healthcheck.py beat     # beat: its process is alive and the broker answers

web: the request goes to 127.0.0.1 but carries the first of ALLOWED_HOSTS as its Host header,
so the check passes whatever the public host name is. beat: the process named in its pid file
runs, and the broker it publishes to answers PING (beat is useless without it).
"""

import os
import socket
import sys
import urllib.parse
import urllib.request

BEAT_PIDFILE = "/tmp/celerybeat.pid"  # noqa: S108 (the container's own /tmp)


def web() -> None:
    host = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip().lstrip(".")
    if host in ("", "*"):
        host = "localhost"
    port = os.environ.get("PORT", "8000")
    request = urllib.request.Request(f"http://127.0.0.1:{port}/healthz", headers={"Host": host})
    with urllib.request.urlopen(request, timeout=4) as response:  # noqa: S310 (fixed local URL)
        if response.status != 200:
            raise OSError(f"/healthz answered {response.status}")


def beat() -> None:
    with open(BEAT_PIDFILE) as pidfile:
        os.kill(int(pidfile.read().strip()), 0)
    url = urllib.parse.urlsplit(
        os.environ.get("CELERY_BROKER_URL") or os.environ.get("REDIS_URL", "redis://localhost")
    )
    with socket.create_connection((url.hostname, url.port or 6379), timeout=4) as conn:
        if url.password:
            conn.sendall(f"AUTH {url.password}\r\n".encode())
            conn.recv(64)
        conn.sendall(b"PING\r\n")
        if not conn.recv(64).startswith(b"+PONG"):
            raise OSError("the broker did not answer PING")


if __name__ == "__main__":
    try:
        {"web": web, "beat": beat}[sys.argv[1] if len(sys.argv) > 1 else "web"]()
    except (OSError, ValueError) as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        sys.exit(1)
    sys.exit(0)
