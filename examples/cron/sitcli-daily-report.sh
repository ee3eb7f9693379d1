#!/bin/sh
# The daily signal report for cron or systemd: pull the latest bars, write
# REPORT_DIR/YYYY-MM-DD.{json,md,html}, keep the newest $KEEP days of reports.
#
#   sitcli-daily-report.sh [more `sitcli report daily` options, e.g. --demo --asof 2025-12-31]
#
# Settings (environment, defaults in brackets):
#   SITCLI      the sitcli executable [the clone's .venv/bin/sitcli, else sitcli on PATH]
#   REPORT_DIR  where the reports go [$HOME/sitcli-reports]
#   SYMBOLS     comma-separated [NVDA,AMD,TSM,^NDX,RENDER/USDT]
#   STRATEGIES  space-separated [catalyst_momentum]
#   KEEP        days of reports to keep [30]
# With --demo nothing is pulled (the demo data is embedded and read-only).
#
# Exit code is sitcli's: 0 written; 3 written, but a symbol's data is stale or missing (marked
# in the report); 1 runtime failure; 2 bad usage. Old reports are pruned in every case.
set -u

here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${SITCLI:-}" ]; then
    if [ -x "$here/../../.venv/bin/sitcli" ]; then SITCLI="$here/../../.venv/bin/sitcli"; else SITCLI=sitcli; fi
fi
REPORT_DIR=${REPORT_DIR:-$HOME/sitcli-reports}
SYMBOLS=${SYMBOLS:-NVDA,AMD,TSM,^NDX,RENDER/USDT}
STRATEGIES=${STRATEGIES:-catalyst_momentum}
KEEP=${KEEP:-30}

pull=--pull
symbols="--symbols=$SYMBOLS"
for arg in "$@"; do
    case $arg in
        --demo) pull="" ;;
    esac
done
strategy_args=""
for name in $STRATEGIES; do strategy_args="$strategy_args --strategy=$name"; done

mkdir -p "$REPORT_DIR" || exit 1
# shellcheck disable=SC2086  # $pull and $strategy_args are lists of words on purpose
"$SITCLI" report daily $pull "$symbols" $strategy_args --out "$REPORT_DIR" "$@"
code=$?

# Reports are named by date, so the names sort by age: delete all but the newest $KEEP days.
ls "$REPORT_DIR" | grep -E '^[0-9]{4}-[0-9]{2}-[0-9]{2}\.(json|md|html)$' | cut -c1-10 \
    | sort -u -r | tail -n +"$((KEEP + 1))" | while read -r day; do
        rm -f "$REPORT_DIR/$day.json" "$REPORT_DIR/$day.md" "$REPORT_DIR/$day.html"
    done
exit "$code"
