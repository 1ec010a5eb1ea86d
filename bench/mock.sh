#!/usr/bin/env bash
# Measures the mock agent API (latency 0) with wrk at 256 and at 10,000 keep-alive
# connections, ~10 s each, on a free loopback port. Prints requests/s and writes
# reports/bench/mock.json. The request mix (bench/mock.lua) includes POST /session/start,
# POST /session/continue, GET /session/status/{id} and GET /health.
#
#   bench/mock.sh                 # both runs
#   DURATION=5 bench/mock.sh      # shorter runs
#   CONNS="256 1000" bench/mock.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10}
CONNS=${CONNS:-"256 10000"}
OUT=reports/bench/mock.json

if ! command -v wrk >/dev/null; then
  echo "installing wrk"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq wrk
fi
# 10,000 connections need 10,000 descriptors on each side (wrk and the mock).
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt 10100 ]; then
  echo "warning: ulimit -n is $(ulimit -n); 10,000 connections need more" >&2
fi

cargo build --release --quiet
BIN=target/release/reprise
mkdir -p reports/bench
LOG=$(mktemp)
"$BIN" mock --listen 127.0.0.1:0 >"$LOG" 2>&1 &
MOCK=$!
trap 'kill -INT $MOCK 2>/dev/null || true; wait $MOCK 2>/dev/null || true; rm -f "$LOG"' EXIT
URL=""
for _ in $(seq 100); do
  URL=$(grep -o 'http://127\.0\.0\.1:[0-9]*' "$LOG" || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "mock did not start:"; cat "$LOG"; exit 1; }
echo "mock at $URL (pid $MOCK), $(nproc) cores shared with wrk"

# CPU time (user + sys, clock ticks) the mock process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$MOCK/stat"; }
TCK=$(getconf CLK_TCK)

runs=()
for c in $CONNS; do
  before=$(cpu_ticks)
  out=$(wrk -t2 -c"$c" -d"${DURATION}s" --timeout 10s --latency -s bench/mock.lua "$URL")
  json=$(grep '^JSON ' <<<"$out" | sed 's/^JSON //')
  after=$(cpu_ticks)
  rss_kb=$(awk '/VmHWM/ {print $2}' "/proc/$MOCK/status")
  rps=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(round(d['requests']/(d['duration_us']/1e6)))" "$json")
  errors=$(python3 -c "import json,sys; e=json.loads(sys.argv[1])['errors']; print(sum(e.values()))" "$json")
  p99=$(python3 -c "import json,sys; print(json.loads(sys.argv[1])['latency_us']['p99']/1000)" "$json")
  cpu_us=$(python3 -c "import json,sys; d=json.loads(sys.argv[1]); a,b,t=map(float,sys.argv[2:5]); print(round((a-b)*1e6/t/max(d['requests'],1),1))" "$json" "$after" "$before" "$TCK")
  printf 'connections %6d: %8d requests/s, p99 %.2f ms, %d socket/status errors, mock CPU %s us/request, mock peak RSS %d MB\n' \
    "$c" "$rps" "$p99" "$errors" "$cpu_us" "$((rss_kb / 1024))"
  runs+=("{\"connections\":$c,\"threads\":2,\"requests_per_s\":$rps,\"mock_cpu_us_per_request\":$cpu_us,\"mock_peak_rss_kb\":$rss_kb,\"wrk\":$json}")
done

counters=$(kill -INT $MOCK; wait $MOCK 2>/dev/null; grep '^served' "$LOG" || true)
trap 'rm -f "$LOG"' EXIT
echo "$counters"
{
  echo "{"
  echo "  \"bench\": \"mock\","
  echo "  \"when\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
  echo "  \"cores\": $(nproc),"
  echo "  \"load_average_at_end\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
  echo "  \"duration_s\": $DURATION,"
  echo "  \"mix\": \"1/8 start, 3/8 continue, 2/8 status, 2/8 health (bench/mock.lua)\","
  echo "  \"mock_summary\": \"$counters\","
  echo "  \"runs\": [$(IFS=,; echo "${runs[*]}")]"
  echo "}"
} | python3 -m json.tool >"$OUT"
echo "wrote $OUT"
