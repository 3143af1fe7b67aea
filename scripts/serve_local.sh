#!/usr/bin/env bash
# Run by `make run` inside scrm.devservers (DATABASE_URL and REDIS_URL are set).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
PORT="${PORT:-8000}"

$PY manage.py migrate --noinput
$PY manage.py collectstatic --noinput -v 0
$PY manage.py install_scoring_schedule
$PY manage.py seed_demo --customers "${DEMO_CUSTOMERS:-5000}" --if-empty

.venv/bin/celery -A scrm worker -Q default,scoring,maintenance -c 2 --loglevel WARNING &
worker=$!
.venv/bin/celery -A scrm beat --loglevel WARNING -s .local/celerybeat-schedule &
beat=$!
trap 'kill $worker $beat 2>/dev/null; wait $worker $beat 2>/dev/null || true' EXIT

echo "scrm: API http://127.0.0.1:${PORT}/api/v1/  docs http://127.0.0.1:${PORT}/api/docs/  admin http://127.0.0.1:${PORT}/admin/ (demo / demo)"
$PY manage.py runserver "127.0.0.1:${PORT}" --noreload
