#!/usr/bin/env bash
# Time `manage.py seed_demo` at 10k (baseline) and 100k customers on a fresh, durable
# (fsync on, like `make run`) embedded PostgreSQL:  bash bench/seed_demo.sh [customers...]
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("${@:-10000 100000}")
data=$(mktemp -d /tmp/scrm-bench-XXXX)
trap 'rm -rf "$data"' EXIT
DJANGO_SETTINGS_MODULE=scrm.settings.local SIZES="${sizes[*]}" \
  .venv/bin/python -m scrm.devservers --data "$data" -- bash -c '
    set -e
    .venv/bin/python manage.py migrate -v 0
    for n in $SIZES; do
      start=$(date +%s.%N)
      .venv/bin/python manage.py seed_demo --customers "$n" --brand "bench-$n" --seed 1 \
        --no-progress -v 2 | grep -vE "^(Staff login|App key)"
      end=$(date +%s.%N)
      printf "seed_demo --customers %-7s %6.1f s wall (process start to exit)\n" "$n" \
        "$(python3 -c "print($end - $start)")"
    done'
