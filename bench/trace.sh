#!/usr/bin/env bash
# Trace format throughput: writer, reader and `inspect` on agent-API-like exchanges
# (~1 KiB of JSON each). Usage: bash bench/trace.sh [EXCHANGES]   (default 200000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --release --example trace_throughput -- "${1:-200000}"
