#!/usr/bin/env bash
# The fatigue simulator on a seed_demo brand: the default policy (writes the chart) and a few
# variants, then the same network size generated in memory (no database) for the timing.
#   bash bench/simulate_fatigue.sh [customers] [weeks]
set -euo pipefail
cd "$(dirname "$0")/.."
customers=${1:-5000}
weeks=${2:-12}
data=$(mktemp -d /tmp/scrm-sim-XXXX)
trap 'rm -rf "$data"' EXIT
ALL='"quiet_hours","sender_daily_cap","sender_weekly_cap","sender_min_gap","sender_commercial_share","sender_health","recipient_daily_cap","recipient_weekly_cap","cooldown"'
DJANGO_SETTINGS_MODULE=scrm.settings.local CUSTOMERS="$customers" WEEKS="$weeks" ALL="$ALL" \
  .venv/bin/python -m scrm.devservers --data "$data" -- bash -c '
    set -e
    sim() { echo; echo "$ manage.py simulate_fatigue $*"; .venv/bin/python manage.py simulate_fatigue "$@"; }
    .venv/bin/python manage.py migrate -v 0
    .venv/bin/python manage.py seed_demo --customers "$CUSTOMERS" --brand sim --seed 0 \
      --no-progress | grep -vE "^(Staff login|App key)"
    sim --brand sim --weeks "$WEEKS"
    sim --brand sim --weeks "$WEEKS" --no-chart --policy "enabled_rules=[$ALL]"
    sim --brand sim --weeks "$WEEKS" --no-chart --policy backoff_after_ignored=6
    sim --brand sim --weeks "$WEEKS" --no-chart \
      --policy "enabled_rules=[\"cooldown\",\"recipient_daily_cap\",\"recipient_weekly_cap\"]"
    sim --brand sim --weeks "$WEEKS" --no-chart \
      --policy "enabled_rules=[\"quiet_hours\",\"sender_daily_cap\",\"sender_weekly_cap\",\"sender_min_gap\",\"sender_commercial_share\",\"sender_health\",\"cooldown\"]"
    sim --brand sim --weeks "$WEEKS" --no-chart --policy "enabled_rules=[$ALL]" \
      --policy recipient_daily_cap=2 --policy recipient_weekly_cap=8
    sim --customers "$CUSTOMERS" --weeks "$WEEKS" --no-chart'
