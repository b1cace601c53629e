#!/usr/bin/env bash
# Generates report rows and times `tally report` on them: SQLite by a bulk
# insert from the bench, ClickHouse server-side (INSERT ... SELECT FROM
# numbers(N)) in a private clickhouse-server started in a temp dir.
#
#   bash scripts/bench_report.sh side-by-side [ROWS]   # both stores, one run (default 10,000,000)
#   bash scripts/bench_report.sh clickhouse [ROWS]     # ClickHouse only (default 100,000,000)
#   bash scripts/bench_report.sh sqlite [ROWS]         # SQLite only (default 1,000,000)
#
# Extra arguments (after ROWS) go to the bench, e.g. `--clickhouse clickhouse://HOST:8123/db`
# to fill (once) and time an existing server, or `--keep PATH` for SQLite.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-side-by-side}
shift || true
case "$mode" in
  side-by-side) rows=${1:-10000000}; store=both ;;
  clickhouse) rows=${1:-100000000}; store=clickhouse ;;
  sqlite) rows=${1:-1000000}; store=sqlite ;;
  *) echo "usage: $0 side-by-side|clickhouse|sqlite [ROWS] [bench args]" >&2; exit 2 ;;
esac
shift || true
command -v clickhouse-server >/dev/null || [ "$store" = sqlite ] || {
  echo "clickhouse-server is not installed: apt-get install clickhouse-server" >&2; exit 1; }
exec cargo bench --bench report -- --rows "$rows" --store "$store" "$@"
