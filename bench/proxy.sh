#!/usr/bin/env bash
# bench/proxy.sh — what `reprise record` costs, side by side with a bare nginx proxy.
#
# Three paths to the same mock agent API (latency 0, its own process), in one run:
#   direct   client -> mock
#   reprise  client -> reprise record (recording every exchange) -> mock
#   nginx    client -> nginx (proxy_pass, keep-alive upstream pool) -> mock
#
# 1. Added latency at a fixed rate: bench/loadgen.rs (cargo example `loadgen`) sends
#    $RATE req/s (default 1000) on an absolute schedule for $DURATION s over $CONNS
#    keep-alive connections; latency is send -> last byte, p50/p99 from an HDR histogram.
#    Added latency = p(target) - p(direct).
# 2. Highest throughput each path sustains: wrk, $WRK_CONNS connections, $WRK_DURATION s.
# Every request is POST /session/start with a small JSON body (the recorder parses,
# encodes and compresses both bodies). The recording's summary must show 0 dropped.
#
# Prints a table with ratios and writes reports/bench/proxy.json.
# Needs: nginx (nginx-light) and wrk (Debian packages; installed here when missing and
# running as root), python3. Everything listens on 127.0.0.1, on free ports.
#
# Targets on a 2-core machine: added p50 <= 0.2 ms, p99 <= 2 ms at 1,000 req/s;
# reprise throughput >= 50 % of nginx's; 0 dropped.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-1000}
DURATION=${DURATION:-10}
CONNS=${CONNS:-20}
WRK_CONNS=${WRK_CONNS:-64}
WRK_DURATION=${WRK_DURATION:-10}
OUT=${OUT:-reports/bench/proxy.json}

missing=()
command -v nginx >/dev/null || missing+=(nginx-light)
command -v wrk >/dev/null || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "bench/proxy.sh: please install ${missing[*]}" >&2
    exit 2
  fi
fi
NGINX=$(command -v nginx)

echo "building (release)…" >&2
cargo build --release --quiet --bin reprise --example loadgen
BIN=target/release/reprise
LOADGEN=target/release/examples/loadgen

TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
  for _ in $(seq 1 100); do
    (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "bench/proxy.sh: nothing listens on port $1" >&2
  exit 1
}

MOCK_PORT=$(free_port)
"$BIN" mock --listen "127.0.0.1:$MOCK_PORT" --latency 0 >"$TMP/mock.log" 2>&1 &
PIDS+=($!)
wait_port "$MOCK_PORT"

REC_PORT=$(free_port)
"$BIN" record --upstream "http://127.0.0.1:$MOCK_PORT" --listen "127.0.0.1:$REC_PORT" \
  --out "$TMP/bench.trace.zst" --status-every 0 >"$TMP/record.out" 2>"$TMP/record.err" &
REC_PID=$!
PIDS+=($REC_PID)
wait_port "$REC_PORT"

NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx/logs"
cat >"$TMP/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  upstream mock { server 127.0.0.1:$MOCK_PORT; keepalive 128; }
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      proxy_pass http://mock;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
EOF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" &
PIDS+=($!)
wait_port "$NGINX_PORT"

BODY='{"student_id":"bench","topic":"photosynthesis"}'
cat >"$TMP/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$BODY'
wrk.headers["Content-Type"] = "application/json"
EOF

declare -A URL=(
  [direct]="http://127.0.0.1:$MOCK_PORT/session/start"
  [reprise]="http://127.0.0.1:$REC_PORT/session/start"
  [nginx]="http://127.0.0.1:$NGINX_PORT/session/start"
)
TARGETS=(direct reprise nginx)

for t in "${TARGETS[@]}"; do
  echo "fixed rate ${RATE}/s for ${DURATION}s: $t…" >&2
  "$LOADGEN" "${URL[$t]}" --rate "$RATE" --duration "$DURATION" --connections "$CONNS" \
    --warmup 2 --method POST --body "$BODY" >"$TMP/$t.rate.json"
done
for t in "${TARGETS[@]}"; do
  echo "max throughput (wrk -c$WRK_CONNS, ${WRK_DURATION}s): $t…" >&2
  wrk -t2 -c"$WRK_CONNS" -d"${WRK_DURATION}s" -s "$TMP/post.lua" "${URL[$t]}" >"$TMP/$t.wrk"
done

kill -INT "$REC_PID"
wait "$REC_PID" || true
cp "$TMP/record.out" "$TMP/record.summary"

mkdir -p "$(dirname "$OUT")"
python3 - "$TMP" "$OUT" "$RATE" <<'EOF'
import json, re, sys, datetime
tmp, out, rate = sys.argv[1], sys.argv[2], float(sys.argv[3])
targets = ["direct", "reprise", "nginx"]
res = {}
for t in targets:
    r = json.load(open(f"{tmp}/{t}.rate.json"))
    w = open(f"{tmp}/{t}.wrk").read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", w).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", w)
    sock = re.search(r"Socket errors:.*", w)
    res[t] = {"fixed_rate": r, "max_rps": rps,
              "wrk_non_2xx": int(non2xx.group(1)) if non2xx else 0,
              "wrk_socket_errors": sock.group(0) if sock else None}
summary = open(f"{tmp}/record.summary").read()
def field(name):
    m = re.search(rf"{name}\s+(\d+)", summary)
    return int(m.group(1)) if m else None
recording = {"exchanges": field("exchanges"), "dropped": field("dropped"),
             "sessions": field("sessions"), "summary": summary.strip()}
d = res["direct"]["fixed_rate"]
rows = []
for t in targets:
    r = res[t]["fixed_rate"]
    add50 = (r["p50_us"] - d["p50_us"]) / 1000
    add99 = (r["p99_us"] - d["p99_us"]) / 1000
    ratio = res[t]["max_rps"] / res["nginx"]["max_rps"]
    res[t].update({"added_p50_ms": add50, "added_p99_ms": add99, "throughput_vs_nginx": ratio})
    rows.append((t, r["p50_us"]/1000, r["p99_us"]/1000, add50, add99, r["errors"], res[t]["max_rps"], ratio))
print(f"\nreprise record vs direct vs nginx — POST /session/start, mock latency 0")
print(f"fixed rate {rate:.0f} req/s (latency send->last byte), then max throughput (wrk)\n")
print(f"{'target':<8} {'p50 ms':>8} {'p99 ms':>8} {'+p50 ms':>8} {'+p99 ms':>8} {'errors':>6} {'max req/s':>10} {'vs nginx':>8}")
for t, p50, p99, a50, a99, err, rps, ratio in rows:
    print(f"{t:<8} {p50:>8.3f} {p99:>8.3f} {a50:>8.3f} {a99:>8.3f} {err:>6} {rps:>10.0f} {ratio:>8.2f}")
rp = res["reprise"]
checks = {
    "added_p50_le_0.2ms": rp["added_p50_ms"] <= 0.2,
    "added_p99_le_2ms": rp["added_p99_ms"] <= 2.0,
    "throughput_ge_50pct_nginx": rp["throughput_vs_nginx"] >= 0.5,
    "zero_dropped": recording["dropped"] == 0,
}
print(f"\nrecording: {recording['exchanges']} exchanges, {recording['dropped']} dropped")
for k, v in checks.items():
    print(f"  {'PASS' if v else 'FAIL'}  {k}")
json.dump({"bench": "proxy", "at": datetime.datetime.utcnow().isoformat() + "Z",
           "rate": rate, "targets": res, "recording": recording, "checks": checks},
          open(out, "w"), indent=2)
print(f"\nwrote {out}")
EOF
