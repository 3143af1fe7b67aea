#!/usr/bin/env bash
# Run by `make run` inside scrm.devservers, which has started PostgreSQL and Redis and set
# DATABASE_URL and REDIS_URL. Migrates, seeds the demo brand once, then runs a Celery worker,
# Celery beat and the development server until Ctrl-C (or SIGTERM), and stops all three.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"
mkdir -p .local

$PY manage.py migrate --noinput -v 0
$PY manage.py collectstatic --noinput -v 0
$PY manage.py install_scoring_schedule
$PY manage.py install_publishing_schedule
$PY manage.py install_privacy_schedule
$PY manage.py install_wecom_schedule
# --if-empty keeps restarts fast; --app-key prints a fresh "make run" key on every start
# (revoking the one printed last time), since the key is stored only as a hash.
$PY manage.py seed_demo --customers "${DEMO_CUSTOMERS:-5000}" --if-empty --app-key "make run" \
  | tee .local/seed.log
app_key=$(sed -n 's/^App key (make run, shown once): //p' .local/seed.log)
rm -f .local/seed.log
# Weeks of posts, engagement, a campaign and its orders through the real services (first start
# only), so ties, the leaderboard, fatigue decisions and the campaign report have numbers.
if [ "${DEMO_WEEKS:-4}" -gt 0 ]; then
  $PY manage.py seed_demo_activity --weeks "${DEMO_WEEKS:-4}" --if-empty
fi
# A WeCom configuration for the demo brand (fixed local credentials), for wecom_simulate.
$PY manage.py wecom_demo_config --brand demo

pids=()
stop_all() {
  trap - EXIT INT TERM
  if [ ${#pids[@]} -gt 0 ]; then
    echo "scrm: stopping (${pids[*]})"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
  fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

PYTHONWARNINGS="ignore:You're running the worker with superuser" \
  .venv/bin/celery -A scrm --quiet worker -Q default,scoring,maintenance -c 4 --loglevel WARNING &
pids+=($!)
.venv/bin/celery -A scrm --quiet beat --loglevel WARNING &
pids+=($!)
$PY manage.py runserver "127.0.0.1:${PORT}" --noreload &
pids+=($!)

# Wait until the server answers, then print where everything is (last, so it is easy to find).
$PY - "$PORT" <<'PYEOF'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/healthz"
for _ in range(300):
    try:
        urllib.request.urlopen(url, timeout=1).read()
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit(f"scrm: the server did not answer {url}")
PYEOF

base="http://127.0.0.1:${PORT}"
cat <<BANNER

  scrm is running (Ctrl-C stops the server, the Celery worker and beat, PostgreSQL and Redis)
    API      ${base}/api/v1/
    docs     ${base}/api/docs/
    admin    ${base}/admin/        login: demo / demo
    health   ${base}/healthz  ${base}/readyz
    app key  ${app_key}

    curl -s -X POST ${base}/api/v1/auth/token/ -H 'Content-Type: application/json' \\
         -d '{"username": "demo", "password": "demo"}'
    curl -s -X POST ${base}/api/v1/auth/customer-token/ -H 'Authorization: Api-Key ${app_key}' \\
         -H 'Content-Type: application/json' -d '{"external_id": "<a customer external_id>"}'
    # WeCom callbacks (encrypted, signed) into the demo brand; churn shows in ${base}/api/v1/churn/
    .venv/bin/python manage.py wecom_simulate --demo --url ${base} --scenario mix --count 20

BANNER

# Run until one of them stops (or a signal arrives); the EXIT trap stops the others.
wait -n "${pids[@]}"
