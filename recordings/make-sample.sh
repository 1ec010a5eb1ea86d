#!/usr/bin/env bash
# Regenerates recordings/sample.trace.zst: ~50 synthetic student sessions recorded through
# `reprise record` from the mock agent API.
#
#   bash recordings/make-sample.sh [OUT]        (default recordings/sample.trace.zst)
#
# The students keep their real behaviour (5–10 turns, 80 % correct in AR, ~10 % status
# checks, 1–3 s think time, 10 % of turns on the SSE stream endpoint) and all 50 run at
# once, so the recording takes about 30 s and keeps realistic think gaps. The mock answers
# with a log-normal LLM latency (median 400 ms). Everything listens on 127.0.0.1 on free
# ports.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-recordings/sample.trace.zst}
SESSIONS=${SESSIONS:-50}

cargo build --release --quiet --bin reprise
BIN=target/release/reprise
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 1 100); do
    (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "make-sample: nothing listens on port $1" >&2
  exit 1
}

MOCK_PORT=$(free_port)
"$BIN" mock --listen "127.0.0.1:$MOCK_PORT" --latency-median 400ms --seed 42 >/dev/null &
MOCK_PID=$!
trap 'kill $MOCK_PID 2>/dev/null || true' EXIT
wait_port "$MOCK_PORT"

rm -f "$OUT"
REC_PORT=$(free_port)
"$BIN" record --upstream "http://127.0.0.1:$MOCK_PORT" --listen "127.0.0.1:$REC_PORT" \
  --out "$OUT" --status-every 5s &
REC_PID=$!
wait_port "$REC_PORT"

"$BIN" mock students --target "http://127.0.0.1:$REC_PORT" --sessions "$SESSIONS" \
  --concurrency "$SESSIONS" --seed 42 --stream-share 0.1
kill -INT "$REC_PID"
wait "$REC_PID"
