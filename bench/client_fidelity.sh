#!/usr/bin/env bash
# Client fidelity: does a closed replay at the recorded concurrency send what the recorded
# clients sent? The seed's Locust students (bench/locust/students.py: sessions back to back,
# 1–3 s think before every request but a user's first, so also between sessions) run
# against `reprise mock` through `reprise record`; the recording is then replayed at the
# same users and spawn rate against a fresh mock, for the recording's span (its first send
# to its last completion: Locust's run time also counts its own start-up, before the first
# request) — with users kept whole (the default) and with --back-to-back — and both
# request rates and session counts are printed with their ratios (target: within ±3 %).
# Rates are over that same span on both sides. Writes reports/bench/client_fidelity.json.
#
# Env: USERS (30), DURATION (s, 60), LATENCY_MS (fixed mock latency per agent turn, 200),
# BACK_TO_BACK (1: also replay --back-to-back), NO_BUILD=1.
#
# The counts are those the target received: the recorder's exchanges (what the real
# clients sent through it) and the replay's requests, over the same duration. Every process
# is bounded by `timeout`; everything runs on 127.0.0.1.
. "$(dirname "$0")/lib.sh"

USERS="${USERS:-30}"
DURATION="${DURATION:-60}"
LATENCY_MS="${LATENCY_MS:-200}"
BACK_TO_BACK="${BACK_TO_BACK:-1}"

bench_init
ensure_reprise
ensure_locust || die "pip install locust failed"
LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"
TRACE="$BENCH_TMP/locust.trace.zst"

# 1. Locust students through the recorder
start_mock "$LATENCY_MS"
UPSTREAM_PORT="$MOCK_PORT"
PROXY_PORT="$(free_port)"
"$REPRISE" record --upstream "http://127.0.0.1:$UPSTREAM_PORT" --listen "127.0.0.1:$PROXY_PORT" \
  --out "$TRACE" >"$BENCH_TMP/record.out" 2>&1 &
REC_PID=$!
bench_track "$REC_PID"
wait_port "$PROXY_PORT" 30
log "locust: $USERS users for ${DURATION}s through reprise record (mock latency ${LATENCY_MS} ms)"
(cd "$BENCH_DIR/locust" && timeout $((DURATION + 60)) "$LOCUST" -f students.py --headless \
  -u "$USERS" -r "$USERS" -t "${DURATION}s" --host "http://127.0.0.1:$PROXY_PORT" \
  --csv "$BENCH_TMP/locust" --only-summary --loglevel WARNING >"$BENCH_TMP/locust.out" 2>&1) || true
kill -INT "$REC_PID" 2>/dev/null || true
for _ in $(seq 1 150); do kill -0 "$REC_PID" 2>/dev/null || break; sleep 0.1; done
kill -INT "$MOCK_PID" 2>/dev/null || true
[ -s "$TRACE" ] || { tail -20 "$BENCH_TMP/record.out" "$BENCH_TMP/locust.out" >&2; die "no recording"; }
"$REPRISE" inspect "$TRACE" --json >"$BENCH_TMP/inspect.json" 2>"$BENCH_TMP/inspect.err" \
  || { cat "$BENCH_TMP/inspect.err" >&2; die "inspect failed"; }
SPAN_MS="$(json_get "$BENCH_TMP/inspect.json" 'int(d["span"]["seconds"] * 1000)')"

# 2. the replays, each against a fresh mock
replay() {
  local name="$1"
  shift
  start_mock "$LATENCY_MS"
  log "replay ($name): $USERS users for the recorded span, ${SPAN_MS} ms"
  timeout $((DURATION + 90)) "$REPRISE" replay "$TRACE" --target "http://127.0.0.1:$MOCK_PORT" \
    --users "$USERS" --spawn-rate "$USERS" --duration "${SPAN_MS}ms" --report "$BENCH_TMP/$name" \
    "$@" >"$BENCH_TMP/$name.out" 2>"$BENCH_TMP/$name.err" || true
  kill -INT "$MOCK_PID" 2>/dev/null || true
  [ -f "$BENCH_TMP/$name/summary.json" ] || { tail -20 "$BENCH_TMP/$name.err" >&2; die "replay $name wrote no summary"; }
}
replay whole
if [ "$BACK_TO_BACK" = 1 ]; then
  replay back-to-back --back-to-back
fi

"$PY" - "$BENCH_TMP" "$OUT_DIR/client_fidelity.json" "$USERS" "$DURATION" "$LATENCY_MS" "$LOADAVG" <<'EOF'
import csv, datetime, json, os, sys
tmp, out, users, locust_s, latency_ms, loadavg = sys.argv[1:7]
ins = json.load(open(f"{tmp}/inspect.json"))
duration = ins["span"]["seconds"]  # the recording's span: the window of both rates
agg = next((r for r in csv.DictReader(open(f"{tmp}/locust_stats.csv")) if r["Name"] == "Aggregated"), None)
starts = next((r for r in csv.DictReader(open(f"{tmp}/locust_stats.csv")) if r["Name"] == "/session/start"), None)

def find(d, *names):
    for n in names:
        if isinstance(d, dict) and n in d:
            return d[n]
    return None

rec_ex = find(ins, "exchanges")
rec_sessions = find(ins, "sessions")
if isinstance(rec_ex, dict):
    rec_ex = find(rec_ex, "count", "total")
if isinstance(rec_sessions, dict):
    rec_sessions = find(rec_sessions, "count", "total")
rows = [{
    "run": "recorded (Locust through reprise record)",
    "requests": int(rec_ex),
    "rps": int(rec_ex) / duration,
    "sessions": int(rec_sessions),
    "locust_requests": int(agg["Request Count"]) if agg else None,
    "locust_failures": int(agg["Failure Count"]) if agg else None,
    "locust_sessions": int(starts["Request Count"]) if starts else None,
}]
for name in ("whole", "back-to-back"):
    p = f"{tmp}/{name}/summary.json"
    if not os.path.exists(p):
        continue
    s = json.load(open(p))
    t = s["totals"]
    rows.append({
        "run": f"replay, {'users kept whole' if name == 'whole' else '--back-to-back'}",
        "requests": t["requests"], "rps": t["requests"] / duration,
        "sessions": s["sessions"]["started"], "failures": t["failures"],
        "lag_p99_ms": t["lag"]["p99_ms"],
        "dependency_wait_p99_ms": t.get("dependency_wait", {}).get("p99_ms"),
    })
base = rows[0]
for r in rows[1:]:
    r["rps_ratio"] = r["rps"] / base["rps"] if base["rps"] else None
    r["sessions_ratio"] = r["sessions"] / base["sessions"] if base["sessions"] else None
print(f"\nClient fidelity: {users} users, Locust -t {locust_s} s (recorded span {duration:.2f} s, the replay's duration), mock latency {latency_ms} ms per turn (load avg at start {loadavg})")
print(f"{'run':<44} {'requests':>9} {'req/s':>8} {'sessions':>9} {'rate ×':>7} {'sessions ×':>10} {'lag p99':>8}")
for r in rows:
    ratio = lambda k: f"{r[k]:.3f}" if r.get(k) is not None else "-"
    lag = f"{r['lag_p99_ms']:.1f}" if r.get("lag_p99_ms") is not None else "-"
    print(f"{r['run']:<44} {r['requests']:>9} {r['rps']:>8.2f} {r['sessions']:>9} {ratio('rps_ratio'):>7} {ratio('sessions_ratio'):>10} {lag:>8}")
if base.get("locust_requests") is not None:
    print(f"(Locust itself counted {base['locust_requests']} requests, {base['locust_failures']} failures, "
          f"{base['locust_sessions']} session starts)")
whole = next((r for r in rows[1:] if "whole" in r["run"]), None)
target = None
if whole and whole.get("rps_ratio") and whole.get("sessions_ratio"):
    target = {"rps_within_3pct": abs(whole["rps_ratio"] - 1) <= 0.03,
              "sessions_within_3pct": abs(whole["sessions_ratio"] - 1) <= 0.03}
    print(f"target ±3 %: rate {'met' if target['rps_within_3pct'] else 'MISSED'}, "
          f"sessions {'met' if target['sessions_within_3pct'] else 'MISSED'}")
json.dump({"bench": "client_fidelity", "at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
           "users": int(users), "duration_s": duration, "latency_ms": float(latency_ms),
           "loadavg": loadavg, "rows": rows, "target": target}, open(out, "w"), indent=2)
print(f"wrote {out}")
EOF
