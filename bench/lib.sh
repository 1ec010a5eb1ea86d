# Shared helpers for the bench/ scripts. Source it: `. "$(dirname "$0")/lib.sh"`.
#
# Everything here talks to 127.0.0.1 only, picks free ports (never a fixed one), and keeps
# its tools in bench/.tools/ (git-ignored) or installs them with apt-get / pip.
#
# Conventions:
# - BENCH_DIR is bench/, ROOT the repository, TOOLS bench/.tools, OUT_DIR reports/bench.
# - Every background process a script starts is registered with `bench_track PID` and is
#   stopped by the EXIT trap that `bench_init` installs — by its PID, never by name.
# - CPU time and peak RSS come from bench/measure.py (wait4 rusage: user+sys of the
#   generator process and the children it waited for, µs precision; peak RSS sampled from
#   /proc over the process tree).

set -euo pipefail

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
TOOLS="$BENCH_DIR/.tools"
OUT_DIR="$ROOT/reports/bench"
PY="${PYTHON:-python3}"
REPRISE="${REPRISE:-$ROOT/target/release/reprise}"

BENCH_PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

bench_track() { BENCH_PIDS+=("$1"); }

bench_cleanup() {
  local pid
  for pid in "${BENCH_PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${BENCH_PIDS[@]}"; do
    for _ in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  if [ -n "${BENCH_TMP:-}" ] && [ -d "$BENCH_TMP" ] && [ -z "${KEEP_TMP:-}" ]; then
    rm -rf "$BENCH_TMP"
  fi
}

# Creates BENCH_TMP and OUT_DIR, raises the open-files soft limit, installs the cleanup trap.
bench_init() {
  mkdir -p "$OUT_DIR" "$TOOLS"
  BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/reprise-bench.XXXXXX")"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# A free TCP port on 127.0.0.1 (the kernel picks it; racy only in theory).
free_port() {
  "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT.
wait_port() {
  local port="$1" deadline=$((SECONDS + ${2:-20}))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  die "nothing listens on 127.0.0.1:$port after ${2:-20}s"
}

# CPU seconds (utime+stime, including waited-for children) of a live process tree, from /proc.
proc_tree_cpu_s() {
  "$PY" - "$1" <<'EOF'
import os, sys
root = int(sys.argv[1]); tck = os.sysconf("SC_CLK_TCK"); kids = {}; cpu = {}
for e in os.listdir("/proc"):
    if not e.isdigit(): continue
    try:
        f = open(f"/proc/{e}/stat").read().rsplit(")", 1)[1].split()
        kids.setdefault(int(f[1]), []).append(int(e))
        cpu[int(e)] = sum(int(x) for x in f[11:15])
    except (OSError, ValueError, IndexError): pass
tot, st = 0, [root]
while st:
    p = st.pop(); tot += cpu.get(p, 0); st.extend(kids.get(p, []))
print(tot / tck)
EOF
}

# Peak RSS (VmHWM, kB) of a live process.
proc_peak_rss_kb() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }

# measure OUT.json CMD...: runs CMD in the foreground under measure.py.
measure() {
  local out="$1"
  shift
  "$PY" "$BENCH_DIR/measure.py" "$out" -- "$@"
}

# json_get FILE EXPR: a value from a JSON file, EXPR a Python expression over `d`.
json_get() {
  "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# ---------------------------------------------------------------- tools

apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

ensure_wrk() { command -v wrk >/dev/null || apt_install wrk; }
ensure_hey() { command -v hey >/dev/null || apt_install hey; }
ensure_nginx() { [ -x /usr/sbin/nginx ] || apt_install nginx-light; }
ensure_zstd() { command -v zstd >/dev/null || apt_install zstd; }

# oha from crates.io into bench/.tools/bin (a long build; a failure is reported, not fatal).
OHA="$TOOLS/bin/oha"
ensure_oha() {
  [ -x "$OHA" ] && return 0
  command -v cargo >/dev/null || { log "oha: no cargo, skipped"; return 1; }
  log "cargo install oha (several minutes on a busy machine)"
  cargo install oha --locked --root "$TOOLS" >"$TOOLS/oha-install.log" 2>&1 \
    || { log "oha: cargo install failed, see $TOOLS/oha-install.log"; return 1; }
}

# Locust in a venv at bench/.tools/venv.
LOCUST="$TOOLS/venv/bin/locust"
ensure_locust() {
  [ -x "$LOCUST" ] && return 0
  log "pip install locust into $TOOLS/venv"
  "$PY" -m venv "$TOOLS/venv"
  "$TOOLS/venv/bin/pip" install -q locust
}

# reprise in release mode.
ensure_reprise() {
  if [ -z "${NO_BUILD:-}" ]; then
    log "cargo build --release"
    (cd "$ROOT" && cargo build --release --quiet)
  fi
  [ -x "$REPRISE" ] || die "$REPRISE missing (cargo build --release)"
}

# ---------------------------------------------------------------- servers

# start_nginx: nginx (1 worker, keep-alive, access log off) on a free port, serving the
# fixed JSON body bench/fixtures/body.json for any method on any path. Sets NGINX_PORT.
start_nginx() {
  ensure_nginx
  local dir="$BENCH_TMP/nginx"
  mkdir -p "$dir"
  NGINX_PORT="$(free_port)"
  local body
  body="$(tr -d '\n' <"$BENCH_DIR/fixtures/body.json" | sed "s/'/\\\\'/g")"
  cat >"$dir/nginx.conf" <<EOF
worker_processes ${NGINX_WORKERS:-1};
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
worker_rlimit_nofile 20000;
events { worker_connections 16384; }
http {
  access_log off;
  keepalive_timeout 75s;
  keepalive_requests 100000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  fastcgi_temp_path $dir/fastcgi;
  uwsgi_temp_path $dir/uwsgi;
  scgi_temp_path $dir/scgi;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / {
      default_type application/json;
      return 200 '$body';
    }
  }
}
EOF
  /usr/sbin/nginx -c "$dir/nginx.conf" -p "$dir" >"$dir/stdout.log" 2>&1 &
  bench_track $!
  wait_port "$NGINX_PORT"
  log "nginx on 127.0.0.1:$NGINX_PORT"
}

# start_mock LATENCY_MS [extra flags…]: `reprise mock` in its own process on a free port.
# Sets MOCK_PORT, MOCK_PID. The latency flag is read from `reprise mock --help`.
start_mock() {
  local latency_ms="$1"
  shift
  MOCK_PORT="$(free_port)"
  local help flags=()
  help="$("$REPRISE" mock --help 2>&1)"
  if grep -q -- '--fixed-latency' <<<"$help"; then
    flags+=(--fixed-latency "${latency_ms}ms")
  elif grep -q -- '--latency ' <<<"$help"; then
    flags+=(--latency "${latency_ms}ms")
  else
    die "reprise mock --help names no latency flag (expected --fixed-latency or --latency)"
  fi
  "$REPRISE" mock --listen "127.0.0.1:$MOCK_PORT" "${flags[@]}" "$@" \
    >"$BENCH_TMP/mock.$MOCK_PORT.log" 2>&1 &
  MOCK_PID=$!
  bench_track "$MOCK_PID"
  wait_port "$MOCK_PORT" 30
  log "reprise mock (latency ${latency_ms} ms) on 127.0.0.1:$MOCK_PORT, pid $MOCK_PID"
}

# gen_trace OUT KIND [ARGS…]: a synthetic recording (bench/gen_trace.py; needs zstd).
gen_trace() {
  ensure_zstd
  "$PY" "$BENCH_DIR/gen_trace.py" --out "$1" --kind "$2" "${@:3}"
}
