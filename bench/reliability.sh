#!/usr/bin/env bash
# The figures of the README's "Reliability" section, measured on this machine (loopback only):
# 1. a target answering garbage / resetting connections: requests per second a 3-user replay
#    sends it over 10 s (the backoff's effect);
# 2. the recorder killed with SIGKILL, and stopped with SIGINT, under 20 concurrent synthetic
#    students: exchanges the students completed through it vs exchanges in the trace;
# 3. the recorder's RSS with 2,000 idle client connections open.
# Usage: bench/reliability.sh   (REPRISE=path/to/reprise to measure another build)
. "$(dirname "$0")/lib.sh"
bench_init
[ -x "$REPRISE" ] || die "build first: cargo build --release (or REPRISE=target/debug/reprise)"
H="$BENCH_DIR/reliability.py"
cd "$BENCH_TMP"

# a small recording to replay
MOCK_PORT="$(free_port)"
"$REPRISE" mock --listen "127.0.0.1:$MOCK_PORT" >mock.log 2>&1 & bench_track $!
wait_port "$MOCK_PORT"
REC_PORT="$(free_port)"
"$REPRISE" record --upstream "http://127.0.0.1:$MOCK_PORT" --listen "127.0.0.1:$REC_PORT" \
  --out small.trace.zst >rec.log 2>&1 & REC=$!; bench_track $REC
wait_port "$REC_PORT"
"$REPRISE" mock students --target "http://127.0.0.1:$REC_PORT" --sessions 4 --concurrency 4 \
  --think-min 10ms --think-max 20ms >/dev/null
kill -INT $REC; wait $REC || true

echo "== broken target: 3 users, --duration 10s =="
for mode in garbage reset; do
  port="$(free_port)"
  "$PY" "$H" broken "$port" "$mode" >"broken-$mode.count" & B=$!; bench_track $B
  wait_port "$port"
  "$REPRISE" replay small.trace.zst --target "http://127.0.0.1:$port" --users 3 \
    --duration 10s --report "r-$mode" >/dev/null 2>&1 || code=$?
  kill -TERM $B; wait $B 2>/dev/null || true
  "$PY" - "$mode" "r-$mode/summary.json" "broken-$mode.count" "${code:-0}" <<'PY'
import json, sys
mode, path, count, code = sys.argv[1:]
s = json.load(open(path))
t = s["totals"]
print(f"{mode:8} requests {t['requests']:5}  failures {t['failures']:5}  "
      f"{t['requests'] / s['run']['duration_s']:.1f} req/s  connections {open(count).read().strip()}  exit {code}")
PY
  unset code
done

echo "== recorder under 20 concurrent students, stopped after ~8 s =="
for how in KILL INT; do
  REC_PORT="$(free_port)"
  "$REPRISE" record --upstream "http://127.0.0.1:$MOCK_PORT" --listen "127.0.0.1:$REC_PORT" \
    --out "stop-$how.trace.zst" >"rec-$how.log" 2>&1 & REC=$!; bench_track $REC
  wait_port "$REC_PORT"
  "$REPRISE" mock students --target "http://127.0.0.1:$REC_PORT" --sessions 2000 \
    --concurrency 20 --think-min 1ms --think-max 5ms --timeout 5s --json >"students-$how.json" 2>/dev/null &
  S=$!; bench_track $S
  sleep 8
  kill -"$how" $REC; wait $REC 2>/dev/null || true
  wait $S 2>/dev/null || true
  "$REPRISE" inspect --json "stop-$how.trace.zst" >"inspect-$how.json" 2>/dev/null || true
  "$PY" - "$how" "students-$how.json" "inspect-$how.json" <<'PY'
import json, sys
how, students, inspect = sys.argv[1:]
st = json.load(open(students))
ok = st["requests"] - st["transport_errors"]
try:
    ins = json.load(open(inspect))
    got = ins["exchanges"]
except Exception as e:
    got = f"unreadable ({e})"
print(f"SIG{how:4} students' requests answered {ok}  exchanges in the trace {got}  "
      f"lost {ok - got if isinstance(got, int) and isinstance(ok, int) else '?'}")
PY
done

echo "== recorder with 2,000 idle connections =="
REC_PORT="$(free_port)"
"$REPRISE" record --upstream "http://127.0.0.1:$MOCK_PORT" --listen "127.0.0.1:$REC_PORT" \
  --out idle.trace.zst >rec-idle.log 2>&1 & REC=$!; bench_track $REC
wait_port "$REC_PORT"
before=$(awk '/^VmRSS/ {print $2}' /proc/$REC/status)
"$PY" "$H" idle "$REC_PORT" 2000 6 & I=$!; bench_track $I
sleep 5
during=$(awk '/^VmRSS/ {print $2}' /proc/$REC/status)
wait $I || true
echo "RSS before ${before} KiB, with 2,000 idle connections ${during} KiB ($(( (during - before) * 1024 / 2000 )) B per connection)"
kill -INT $REC; wait $REC 2>/dev/null || true
