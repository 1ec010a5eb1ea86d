#!/usr/bin/env bash
# Trace format throughput: writer (its compaction at the finish included), reader and
# `inspect` on agent-API-like exchanges (~1 KiB of JSON each), then the size of the same
# exchanges as .trace.zst, HAR and HAR gzip: synthetic ones, recordings/sample.trace.zst,
# and a recording made now with `reprise record` in front of `reprise mock`, driven by
# `reprise mock students` (recordings/make-sample.sh; FRESH=0 skips it, ~30 s).
# Usage: bash bench/trace.sh [EXCHANGES]   (default 200000; HAR_EXCHANGES=20000 for the HAR part)
set -euo pipefail
cd "$(dirname "$0")/.."
traces=${HAR_TRACE:-recordings/sample.trace.zst}
if [ "${FRESH:-1}" = 1 ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  SESSIONS=${SESSIONS:-50} bash recordings/make-sample.sh "$tmp/fresh.trace.zst" >"$tmp/record.log" 2>&1 \
    || { cat "$tmp/record.log" >&2; exit 1; }
  grep -E '^  (bytes|exchanges) ' "$tmp/record.log" | sed 's/^/fresh recording: /'
  traces="$traces,$tmp/fresh.trace.zst"
fi
HAR_TRACE=$traces cargo run --quiet --release --example trace_throughput -- "${1:-200000}"
