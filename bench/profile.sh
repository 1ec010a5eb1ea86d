#!/usr/bin/env bash
# Profile a saturated replay: reprise replaying a zero-think recording at concurrency 64
# against nginx (as in efficiency.sh) under `perf record -g`, then the top functions by
# self time and by inclusive time. The perf data stays in reports/bench/profile.perf.data
# (`perf report -i …` to explore).
#
# Env: DURATION (s, 8), CONCURRENCY (64), TOP (40), POST_SHARE (0), NO_BUILD=1.
. "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-8}"
CONCURRENCY="${CONCURRENCY:-64}"
TOP="${TOP:-40}"
POST_SHARE="${POST_SHARE:-0}"

command -v perf >/dev/null || apt_install linux-perf
bench_init
ensure_reprise
start_nginx
trace="$BENCH_TMP/flat.trace.zst"
gen_trace "$trace" flat --sessions 64 --per-session 50 --path /api/state \
  --post-share "$POST_SHARE" --body "$BENCH_DIR/fixtures/body.json" --latency-us 100
data="$OUT_DIR/profile.perf.data"
perf record -F 999 -g -o "$data" -- "$REPRISE" replay "$trace" --target "http://127.0.0.1:$NGINX_PORT" \
  --users "$CONCURRENCY" --spawn-rate 100000 --duration "${DURATION}s" --report "$BENCH_TMP/report" \
  >"$BENCH_TMP/replay.out" 2>&1 || true
echo "== self time (top $TOP)"
perf report -i "$data" --no-children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -n "$TOP"
echo "== inclusive time (top $TOP)"
perf report -i "$data" --children --sort symbol --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -n "$TOP"
