#!/usr/bin/env bash
# Plan scale: what loading a recording into a replay plan costs, and what replaying it
# costs per request, as the recording grows — 10 k, 100 k and 1 M exchanges, repetitive
# traffic (64 keep-alive connections sending one GET, as wrk through `reprise record`) and
# all-distinct bodies (every request and response body unique), plus one recording made as
# a user would (wrk through `reprise record` in front of nginx, RECORD_S seconds), plus a
# recording of the largest size in bounded sessions (64 connections each sending sessions
# of 100 exchanges, 3 ms apart: ~20,000 exchanges/s over ~50 s) replayed open (think timing) both ways:
# streamed (sessions built just ahead of their arrival) and `--whole-plan`.
#
# Per recording: load time and rate (exchanges/s), peak RSS of the load, bytes of plan per
# exchange (RSS kept with the plan built ÷ exchanges) beside the raw JSON-lines size per
# exchange (bench/plan_load.rs); then a closed replay at CONCURRENCY users against nginx for
# DURATION (CPU µs per request and peak RSS, bench/measure.py), and for the largest
# repetitive recording an open replay (`--timing schedule`, its peak RSS; its 64 sessions
# span the whole recording, so it holds the whole plan). Targets: plan
# ≤ 300 B per exchange (repetitive), ≤ 1.5× the raw JSON lines (distinct), load ≥ 500,000
# exchanges/s, open replay of 1 M exchanges ≤ 150 MB peak RSS. Writes
# reports/bench/plan_scale.json.
#
# Env: SIZES ("10000 100000 1000000"), KINDS ("repetitive distinct recorded sessions";
# `sessions`: the streamed/whole open replays at the largest size only), DURATION (s
# per replay, default 5), CONCURRENCY (64), RECORD_S (5), NO_BUILD=1, NO_REPLAY=1 (load only).
# The machine is shared: CPU time, not wall, is what the per-request figures use; the load
# average at the start is written with the results.
. "$(dirname "$0")/lib.sh"

SIZES="${SIZES:-10000 100000 1000000}"
KINDS="${KINDS:-repetitive distinct recorded sessions}"
DURATION="${DURATION:-5}"
CONCURRENCY="${CONCURRENCY:-64}"
RECORD_S="${RECORD_S:-5}"
CONNS=64

bench_init
RESULTS="$BENCH_TMP/results.jsonl"
: >"$RESULTS"
LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"

ensure_reprise
if [ -z "${NO_BUILD:-}" ]; then
  (cd "$ROOT" && cargo build --release --quiet --example plan_load)
fi
PLAN_LOAD="$ROOT/target/release/examples/plan_load"
[ -x "$PLAN_LOAD" ] || die "$PLAN_LOAD missing (cargo build --release --example plan_load)"
ensure_wrk || die "wrk not installable"
start_nginx
URL="http://127.0.0.1:$NGINX_PORT"

# one_recording NAME KIND FILE: load it, replay it, write one results line.
one_recording() {
  local name="$1" kind="$2" trace="$3"
  local raw exchanges
  raw="$(zstd -dc "$trace" | wc -c)"
  log "$name: loading"
  "$PLAN_LOAD" "$trace" >"$BENCH_TMP/$name.load.json"
  local closed="{}" open="{}"
  if [ -z "${NO_REPLAY:-}" ]; then
    log "$name: closed replay, $CONCURRENCY users, ${DURATION}s"
    local report="$BENCH_TMP/$name.closed"
    measure "$BENCH_TMP/$name.closed.m.json" "$REPRISE" replay "$trace" --target "$URL" \
      --users "$CONCURRENCY" --spawn-rate 100000 --duration "${DURATION}s" --report "$report" \
      >"$BENCH_TMP/$name.closed.out" 2>&1 || true
    closed="$(summary_json "$BENCH_TMP/$name.closed.m.json" "$report")"
    if [ "$name" = "$OPEN_ON" ]; then
      log "$name: open replay (--timing schedule), ${DURATION}s"
      report="$BENCH_TMP/$name.open"
      measure "$BENCH_TMP/$name.open.m.json" "$REPRISE" replay "$trace" --target "$URL" \
        --multiply 1 --timing schedule --duration "${DURATION}s" --report "$report" \
        >"$BENCH_TMP/$name.open.out" 2>&1 || true
      open="$(summary_json "$BENCH_TMP/$name.open.m.json" "$report")"
    fi
  fi
  "$PY" - "$name" "$kind" "$trace" "$raw" "$BENCH_TMP/$name.load.json" "$closed" "$open" >>"$RESULTS" <<'PYEOF'
import json, os, sys
name, kind, trace, raw, load, closed, opened = sys.argv[1:8]
l = json.load(open(load))
print(json.dumps({"name": name, "kind": kind, "trace_bytes": os.path.getsize(trace),
                  "json_lines_bytes": int(raw), **l, "closed": json.loads(closed), "open": json.loads(opened)}))
PYEOF
}

# summary_json MEASURE_JSON REPORT_DIR: CPU per request and peak RSS of one replay.
summary_json() {
  "$PY" - "$1" "$2/summary.json" <<'PYEOF'
import json, os, sys
m = json.load(open(sys.argv[1]))
if not os.path.exists(sys.argv[2]):
    print(json.dumps({"error": "no summary.json", "rc": m.get("rc")})); sys.exit()
s = json.load(open(sys.argv[2]))
req = s["totals"]["requests"]
print(json.dumps({"requests": req, "failures": s["totals"]["failures"], "cpu_s": m["cpu_s"],
                  "wall_s": m["wall_s"], "cpu_us_per_req": m["cpu_s"] * 1e6 / req if req else None,
                  "peak_rss_kb": m["tree_peak_rss_kb"]}))
PYEOF
}

largest=0
for n in $SIZES; do [ "$n" -gt "$largest" ] && largest="$n"; done
OPEN_ON="repetitive-$largest"

# open_both NAME FILE: an open replay streamed and one holding the whole plan, one line.
# `--timing think`: under `schedule` a session whose response is late sends its next
# request on a second connection, and on this shared machine (tens of thousands of
# loopback sockets in TIME_WAIT) that spirals into connect storms whose memory, not the
# plan's, is what the peak RSS would show.
open_both() {
  local name="$1" trace="$2" streamed whole
  for how in streamed whole; do
    local flags=(--on-divergence continue)
    [ "$how" = whole ] && flags+=(--whole-plan)
    log "$name: open replay ($how), ${DURATION}s"
    local report="$BENCH_TMP/$name.$how"
    measure "$BENCH_TMP/$name.$how.m.json" "$REPRISE" replay "$trace" --target "$URL" \
      --multiply 1 --timing think --duration "${DURATION}s" --report "$report" "${flags[@]}" \
      >"$BENCH_TMP/$name.$how.out" 2>&1 || true
    if [ "$how" = streamed ]; then
      streamed="$(summary_json "$BENCH_TMP/$name.$how.m.json" "$report")"
    else
      whole="$(summary_json "$BENCH_TMP/$name.$how.m.json" "$report")"
    fi
  done
  "$PY" - "$name" "$trace" "$streamed" "$whole" >>"$RESULTS" <<'PYEOF'
import json, os, sys
name, trace, streamed, whole = sys.argv[1:5]
print(json.dumps({"name": name, "kind": "sessions", "trace_bytes": os.path.getsize(trace),
                  "streamed": json.loads(streamed), "whole": json.loads(whole)}))
PYEOF
}

for kind in $KINDS; do
  if [ "$kind" = sessions ]; then
    [ -n "${NO_REPLAY:-}" ] && continue
    per=$(( (largest + CONNS - 1) / CONNS ))
    trace="$BENCH_TMP/sessions-$largest.trace.zst"
    log "generating sessions $largest"
    gen_trace "$trace" bulk --sessions "$CONNS" --per-session "$per" --latency-us 100 \
      --think-us 3000 --session-len 100 --body "$BENCH_DIR/fixtures/body.json" 2>/dev/null
    open_both "sessions-$largest" "$trace"
    rm -f "$trace"
    continue
  fi
  if [ "$kind" = recorded ]; then
    # wrk through the recording proxy in front of nginx, as a user records real traffic
    port="$(free_port)"
    trace="$BENCH_TMP/recorded.trace.zst"
    # the fixed body names a `thread_id`; wrk's clients are its connections, not one session
    "$REPRISE" record --upstream "$URL" --listen "127.0.0.1:$port" --out "$trace" \
      --session-response /no_such_field >"$BENCH_TMP/record.log" 2>&1 &
    rec_pid=$!
    bench_track "$rec_pid"
    wait_port "$port"
    log "recording wrk -c$CONNS for ${RECORD_S}s through reprise record"
    wrk -t2 -c"$CONNS" -d"${RECORD_S}s" "http://127.0.0.1:$port/" >"$BENCH_TMP/wrk-record.out" 2>&1 || true
    kill -INT "$rec_pid"
    wait "$rec_pid" || true
    one_recording recorded recorded "$trace"
    continue
  fi
  for n in $SIZES; do
    per=$(( (n + CONNS - 1) / CONNS ))
    trace="$BENCH_TMP/$kind-$n.trace.zst"
    log "generating $kind $n"
    if [ "$kind" = distinct ]; then
      gen_trace "$trace" bulk --distinct --sessions "$CONNS" --per-session "$per" --latency-us 100 2>/dev/null
    else
      gen_trace "$trace" bulk --sessions "$CONNS" --per-session "$per" --latency-us 100 \
        --body "$BENCH_DIR/fixtures/body.json" 2>/dev/null
    fi
    one_recording "$kind-$n" "$kind" "$trace"
    rm -f "$trace"
  done
done

"$PY" - "$RESULTS" "$OUT_DIR/plan_scale.json" "$LOADAVG" "$CONCURRENCY" "$DURATION" <<'EOF'
import json, os, sys, datetime
res_file, out, loadavg, conc, duration = sys.argv[1:6]
rows = [json.loads(l) for l in open(res_file) if l.strip()]
print(f"\nPlan scale — load, then {duration}s closed replays at {conc} users against nginx (load avg at start {loadavg})")
print(f"{'recording':<20} {'exchanges':>9} {'JSONL B/ex':>10} {'load s':>7} {'ex/s':>9} {'load peak':>9} "
      f"{'plan B/ex':>9} {'plan/JSONL':>10} {'µs/req':>7} {'replay RSS':>10}")
targets = {}
for r in rows:
    if r["kind"] == "sessions":
        for how in ("streamed", "whole"):
            o = r.get(how) or {}
            if not o.get("peak_rss_kb"):
                print(f"{r['name']:<20} open replay ({how}): {o}")
                continue
            mb = o["peak_rss_kb"] / 1024
            print(f"{r['name']:<20} open replay ({how}): {o['requests']} requests, "
                  f"{o['failures']} failures, {o.get('cpu_us_per_req') or 0:.2f} µs/req, peak RSS {mb:.1f} MB")
            if how == "streamed":
                targets[f"{r['name']}: streamed open replay ≤ 150 MB peak RSS"] = (mb, mb <= 150)
        continue
    raw_per = r["json_lines_bytes"] / r["exchanges"]
    c = r.get("closed") or {}
    us = f"{c['cpu_us_per_req']:.2f}" if c.get("cpu_us_per_req") else "-"
    rss = f"{c['peak_rss_kb']/1024:.1f}MB" if c.get("peak_rss_kb") else "-"
    print(f"{r['name']:<20} {r['exchanges']:>9} {raw_per:>10.0f} {r['load_s']:>7.2f} {r['exchanges_per_s']:>9.0f} "
          f"{r['peak_rss_kb']/1024:>7.1f}MB {r['plan_bytes_per_exchange']:>9.0f} "
          f"{r['plan_bytes_per_exchange']/raw_per:>10.2f} {us:>7} {rss:>10}")
    if r["kind"] == "repetitive":
        targets[f"{r['name']}: plan ≤ 300 B/exchange"] = (r["plan_bytes_per_exchange"], r["plan_bytes_per_exchange"] <= 300)
    if r["kind"] == "distinct":
        v = r["plan_bytes_per_exchange"] / raw_per
        targets[f"{r['name']}: plan ≤ 1.5× JSON lines"] = (v, v <= 1.5)
    if r["exchanges"] >= 100000:
        targets[f"{r['name']}: load ≥ 500,000 exchanges/s"] = (r["exchanges_per_s"], r["exchanges_per_s"] >= 500000)
    o = r.get("open") or {}
    if o.get("peak_rss_kb"):
        mb = o["peak_rss_kb"] / 1024
        print(f"{'':<20} open replay (--timing schedule, whole plan: its sessions span the recording): {o['requests']} requests, "
              f"{o.get('cpu_us_per_req') or 0:.2f} µs/req, peak RSS {mb:.1f} MB")
        targets[f"{r['name']}: open replay ≤ 150 MB peak RSS"] = (mb, mb <= 150)
print("\ntargets:")
for k, (v, ok) in targets.items():
    print(f"  {k}: {v:,.2f} {'✅' if ok else '❌'}")
doc = {"bench": "plan_scale", "at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
       "cores": os.cpu_count(), "loadavg_at_start": loadavg, "concurrency": int(conc),
       "duration_s": float(duration), "results": rows,
       "targets": {k: {"value": v, "ok": ok} for k, (v, ok) in targets.items()}}
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump(doc, open(out, "w"), indent=1)
print(f"\nwrote {out}")
EOF
