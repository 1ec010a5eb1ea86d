#!/usr/bin/env bash
# Trace format throughput: writer, reader and `inspect` on agent-API-like exchanges
# (~1 KiB of JSON each), then the size of the same exchanges as .trace.zst, HAR and HAR gzip.
# Usage: bash bench/trace.sh [EXCHANGES]   (default 200000; HAR_EXCHANGES=20000 for the HAR part)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --example trace_throughput -- "${1:-200000}"
