#!/usr/bin/env bash
# Generator efficiency: CPU time (user+sys) the load generator spends per request, at
# concurrency 64 with keep-alive, against nginx serving a fixed JSON body — wrk, oha, hey,
# Locust FastHttpUser and reprise (replaying a zero-think-time recording of GETs, and POSTs
# with POST_SHARE) one after the other in one run. `reprise-rec` replays a recording made
# as a user would: wrk (-c CONCURRENCY, RECORD_S seconds, ~100 k exchanges here) through
# `reprise record` in front of the same nginx. Prints a table with µs of CPU per request
# and the ratio to wrk's; writes reports/bench/efficiency.json.
#
# Env: DURATION (s per tool, default 10), CONCURRENCY (64), GENERATORS ("wrk oha hey locust
# reprise reprise-rec"), RECORD_S (5), WRK_THREADS (2), POST_SHARE (0: the same GET as the peers send), NO_BUILD=1
# (use the existing target/release/reprise).
#
# The machine is shared: nginx and the generator share 2 cores with whatever else runs, so
# figures are noisy; the load average at the start is written with the results.
. "$(dirname "$0")/lib.sh"

DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-64}"
TOOL_LIST="${GENERATORS:-wrk oha hey locust reprise reprise-rec}"
RECORD_S="${RECORD_S:-5}"
WRK_THREADS="${WRK_THREADS:-2}"
POST_SHARE="${POST_SHARE:-0}"
BENCH_PATH=/api/state
export BENCH_PATH

bench_init
RESULTS="$BENCH_TMP/results.jsonl"
: >"$RESULTS"
LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"

# record TOOL MEASURE_JSON REQUESTS ERRORS NOTE: one line of results.
record() {
  "$PY" - "$@" >>"$RESULTS" <<'EOF'
import json, sys
tool, mfile, req, err, note = sys.argv[1:6]
m = json.load(open(mfile))
print(json.dumps({"tool": tool, "requests": int(req), "errors": int(err), "note": note, **m}))
EOF
}

skip() { echo "{\"tool\":\"$1\",\"skipped\":\"$2\"}" >>"$RESULTS"; log "$1 skipped: $2"; }

run_wrk() {
  ensure_wrk || { skip wrk "not installable"; return; }
  local out="$BENCH_TMP/wrk.out"
  measure "$BENCH_TMP/wrk.m.json" wrk -t"$WRK_THREADS" -c"$CONCURRENCY" -d"${DURATION}s" "$URL" >"$out" || true
  local req err
  req="$(sed -nE 's/^ *([0-9]+) requests in .*/\1/p' "$out")"
  err="$(awk '/Non-2xx/ {n+=$NF} /Socket errors/ {gsub(/,/,""); n+=$4+$6+$8+$10} END {print n+0}' "$out")"
  record wrk "$BENCH_TMP/wrk.m.json" "${req:-0}" "$err" "-t$WRK_THREADS -c$CONCURRENCY"
}

run_oha() {
  ensure_oha || { skip oha "cargo install oha failed (see bench/.tools/oha-install.log)"; return; }
  local out="$BENCH_TMP/oha.json"
  measure "$BENCH_TMP/oha.m.json" "$OHA" -z "${DURATION}s" -c "$CONCURRENCY" --no-tui --output-format json "$URL" >"$out" || true
  local req err
  req="$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(d["statusCodeDistribution"].values()))' "$out")"
  err="$("$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sum(v for k,v in d["statusCodeDistribution"].items() if k!="200")+sum(d.get("errorDistribution",{}).values()))' "$out")"
  record oha "$BENCH_TMP/oha.m.json" "${req:-0}" "${err:-0}" "-c$CONCURRENCY (tokio, all cores)"
}

run_hey() {
  ensure_hey || { skip hey "apt package hey not installable"; return; }
  local out="$BENCH_TMP/hey.out"
  measure "$BENCH_TMP/hey.m.json" hey -z "${DURATION}s" -c "$CONCURRENCY" "$URL" >"$out" || true
  local req err
  req="$(awk '/\[[0-9]+\][ \t]+[0-9]+ responses/ {n+=$2} END {print n+0}' "$out")"
  err="$(awk '/\[[0-9]+\][ \t]+[0-9]+ responses/ && $1!="[200]" {n+=$2} /Error distribution/ {e=1; next} e && /\[[0-9]+\]/ {gsub(/[\[\]]/,"",$1); n+=$1} END {print n+0}' "$out")"
  record hey "$BENCH_TMP/hey.m.json" "$req" "$err" "-c$CONCURRENCY"
}

run_locust() {
  ensure_locust || { skip locust "pip install locust failed"; return; }
  (cd "$BENCH_DIR/locust" && measure "$BENCH_TMP/locust.m.json" "$LOCUST" -f fasthttp.py --headless \
    -u "$CONCURRENCY" -r "$CONCURRENCY" -t "${DURATION}s" --host "http://127.0.0.1:$NGINX_PORT" \
    --csv "$BENCH_TMP/locust" --only-summary --loglevel WARNING >"$BENCH_TMP/locust.out" 2>&1) || true
  local req err
  req="$(awk -F, '$2=="\"Aggregated\"" || $2=="Aggregated" {gsub(/"/,"",$3); print $3}' "$BENCH_TMP/locust_stats.csv")"
  err="$(awk -F, '$2=="\"Aggregated\"" || $2=="Aggregated" {gsub(/"/,"",$4); print $4}' "$BENCH_TMP/locust_stats.csv")"
  record locust "$BENCH_TMP/locust.m.json" "${req:-0}" "${err:-0}" "FastHttpUser, 1 process"
}

run_reprise() {
  ensure_reprise
  local trace="$BENCH_TMP/flat.trace.zst" report="$BENCH_TMP/reprise-report"
  gen_trace "$trace" flat --sessions 64 --per-session 50 --path "$BENCH_PATH" \
    --post-share "$POST_SHARE" --body "$BENCH_DIR/fixtures/body.json" --latency-us 100
  measure "$BENCH_TMP/reprise.m.json" "$REPRISE" replay "$trace" --target "http://127.0.0.1:$NGINX_PORT" \
    --users "$CONCURRENCY" --spawn-rate 100000 --duration "${DURATION}s" --report "$report" \
    >"$BENCH_TMP/reprise.out" 2>&1 || true
  if [ ! -f "$report/summary.json" ]; then
    tail -20 "$BENCH_TMP/reprise.out" >&2
    skip reprise "no summary.json (see the output above)"
    return
  fi
  record reprise "$BENCH_TMP/reprise.m.json" "$(json_get "$report/summary.json" 'd["totals"]["requests"]')" \
    "$(json_get "$report/summary.json" 'd["totals"]["failures"]')" "-users $CONCURRENCY, POST share $POST_SHARE"
}

# A recording made as a user would: wrk through `reprise record` in front of nginx.
run_reprise_rec() {
  ensure_reprise
  ensure_wrk || { skip reprise-rec "wrk not installable"; return; }
  local port trace="$BENCH_TMP/recorded.trace.zst" report="$BENCH_TMP/reprise-rec-report"
  port="$(free_port)"
  # the fixed body names a `thread_id`: taken as the session id, it would make the whole
  # recording one session of 64 overlapping connections; wrk's clients are its connections
  "$REPRISE" record --upstream "http://127.0.0.1:$NGINX_PORT" --listen "127.0.0.1:$port" \
    --session-response /no_such_field --out "$trace" >"$BENCH_TMP/record.log" 2>&1 &
  local rec_pid=$!
  bench_track "$rec_pid"
  wait_port "$port"
  wrk -t"$WRK_THREADS" -c"$CONCURRENCY" -d"${RECORD_S}s" "http://127.0.0.1:$port$BENCH_PATH" \
    >"$BENCH_TMP/wrk-record.out" 2>&1 || true
  kill -INT "$rec_pid"
  wait "$rec_pid" || true
  local recorded
  recorded="$("$REPRISE" inspect "$trace" 2>/dev/null | sed -nE 's/^exchanges +([0-9]+).*/\1/p' | head -1)"
  log "recorded ${recorded:-?} exchanges ($(du -h "$trace" | cut -f1)); replaying"
  measure "$BENCH_TMP/reprise-rec.m.json" "$REPRISE" replay "$trace" --target "http://127.0.0.1:$NGINX_PORT" \
    --users "$CONCURRENCY" --spawn-rate 100000 --duration "${DURATION}s" --report "$report" \
    >"$BENCH_TMP/reprise-rec.out" 2>&1 || true
  if [ ! -f "$report/summary.json" ]; then
    tail -20 "$BENCH_TMP/reprise-rec.out" >&2
    skip reprise-rec "no summary.json (see the output above)"
    return
  fi
  record reprise-rec "$BENCH_TMP/reprise-rec.m.json" "$(json_get "$report/summary.json" 'd["totals"]["requests"]')" \
    "$(json_get "$report/summary.json" 'd["totals"]["failures"]')" "recorded: wrk ${RECORD_S}s via reprise record, ${recorded:-?} exchanges"
}

start_nginx
URL="http://127.0.0.1:$NGINX_PORT$BENCH_PATH"
for tool in $TOOL_LIST; do
  log "$tool: ${DURATION}s at concurrency $CONCURRENCY"
  "run_${tool//-/_}"
done

"$PY" - "$RESULTS" "$OUT_DIR/efficiency.json" "$DURATION" "$CONCURRENCY" "$LOADAVG" <<'EOF'
import json, os, sys, datetime
res_file, out, duration, conc, loadavg = sys.argv[1:6]
rows = [json.loads(l) for l in open(res_file) if l.strip()]
for r in rows:
    if r.get("requests"):
        r["cpu_us_per_req"] = r["cpu_s"] * 1e6 / r["requests"]
        r["rps"] = r["requests"] / r["wall_s"]
by = {r["tool"]: r for r in rows if "cpu_us_per_req" in r}
base = by.get("wrk", {}).get("cpu_us_per_req")
for r in rows:
    if base and "cpu_us_per_req" in r:
        r["ratio_vs_wrk"] = r["cpu_us_per_req"] / base
print(f"\nGenerator CPU per request — concurrency {conc}, keep-alive, nginx fixed JSON body, {duration}s each (load avg at start {loadavg})")
print(f"{'tool':<11} {'requests':>10} {'errors':>7} {'req/s':>9} {'cpu s':>7} {'µs/req':>8} {'× wrk':>7} {'peak RSS':>9}")
for r in rows:
    if "skipped" in r:
        print(f"{r['tool']:<11} skipped: {r['skipped']}")
    elif "cpu_us_per_req" in r:
        ratio = f"{r['ratio_vs_wrk']:.2f}" if "ratio_vs_wrk" in r else "-"
        print(f"{r['tool']:<11} {r['requests']:>10} {r['errors']:>7} {r['rps']:>9.0f} {r['cpu_s']:>7.2f} "
              f"{r['cpu_us_per_req']:>8.2f} {ratio:>7} {r['tree_peak_rss_kb']/1024:>7.1f}MB")
    else:
        print(f"{r['tool']:<11} no requests completed (rc {r.get('rc')})")
targets = {}
rp = by.get("reprise", {}).get("cpu_us_per_req")
if rp:
    if base:
        targets["reprise_le_1.5x_wrk"] = {"value": rp / base, "ok": rp <= 1.5 * base}
    if "oha" in by:
        targets["reprise_below_oha"] = {"value": rp / by["oha"]["cpu_us_per_req"], "ok": rp < by["oha"]["cpu_us_per_req"]}
    if "locust" in by:
        targets["locust_ge_20x_reprise"] = {"value": by["locust"]["cpu_us_per_req"] / rp,
                                            "ok": by["locust"]["cpu_us_per_req"] >= 20 * rp}
rr = by.get("reprise-rec")
if rr:
    if base:
        targets["recorded_le_1.2x_wrk"] = {"value": rr["cpu_us_per_req"] / base, "ok": rr["cpu_us_per_req"] <= 1.2 * base}
    if "oha" in by:
        targets["recorded_below_oha"] = {"value": rr["cpu_us_per_req"] / by["oha"]["cpu_us_per_req"],
                                         "ok": rr["cpu_us_per_req"] < by["oha"]["cpu_us_per_req"]}
    targets["recorded_peak_rss_le_100MB"] = {"value": rr["tree_peak_rss_kb"] / 1024, "ok": rr["tree_peak_rss_kb"] <= 100 * 1024}
    print(f"\nrecorded trace: {rr['note']}")
if targets:
    print("\ntargets: " + ", ".join(f"{k} {v['value']:.2f} {'✅' if v['ok'] else '❌'}" for k, v in targets.items()))
doc = {"bench": "efficiency", "at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
       "concurrency": int(conc), "duration_s": float(duration), "target": "nginx, 1 worker, fixed JSON body",
       "cores": os.cpu_count(), "loadavg_at_start": loadavg, "results": rows, "targets": targets}
os.makedirs(os.path.dirname(out), exist_ok=True)
json.dump(doc, open(out, "w"), indent=1)
print(f"\nwrote {out}")
EOF
