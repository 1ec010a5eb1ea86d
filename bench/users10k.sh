#!/usr/bin/env bash
# 10,000 users on one machine: reprise replaying a recording of students with 1–3 s think
# times, and Locust playing the seed's student behaviour (bench/locust/students.py), each at
# USERS users spawned at SPAWN_RATE/s for DURATION against a fresh `reprise mock` with a
# fixed LATENCY_MS in its own process. For each: intended vs achieved request rate (whole
# run, and steady state after the ramp), errors, generator CPU and peak RSS, lag p99.
# Writes reports/bench/users10k.json.
#
# `reprise-web` is the same reprise run with `--web 127.0.0.1:0` and one open page: a
# `curl -N` reading the live page's event stream (`/events`) from the start to the end, as
# a browser tab does (the reader is outside the measured process tree: only reprise's own
# CPU counts). The table's last line is the CPU per request with the page over without.
# PAIRS=N runs reprise and reprise-web N times each, alternately (reprise first in odd
# pairs, reprise-web first in even ones, so neither always runs on a warmer or quieter
# machine), and prints each pair's CPU-per-request ratio and their median, the figure
# held to 3 %.
#
# Env: USERS (10000), SPAWN_RATE (500), DURATION (s, 120), LATENCY_MS (200),
# GENERATORS ("reprise reprise-web locust"), SESSIONS (recorded sessions, 200), PAIRS (1),
# NO_BUILD=1.
#
# Intended rate. Each user alternates think and request: per request it spends the mean
# think time before it (recorded gaps for reprise, 2 s for Locust) plus the server's
# latency (LATENCY_MS on continue, ~0 on start and status), so one user's intended rate is
# 1 / (mean think + mean latency) and the whole run's intended count is that rate times
# the user-seconds after each user's spawn. The machine is shared: figures are noisy.
. "$(dirname "$0")/lib.sh"

USERS="${USERS:-10000}"
SPAWN_RATE="${SPAWN_RATE:-500}"
DURATION="${DURATION:-120}"
LATENCY_MS="${LATENCY_MS:-200}"
TOOL_LIST="${GENERATORS:-reprise reprise-web locust}"
SESSIONS="${SESSIONS:-200}"
PAIRS="${PAIRS:-1}"
PAIR=1
case "$PAIRS" in '' | *[!0-9]* | 0) echo "PAIRS must be a whole number ≥ 1, not '$PAIRS'" >&2; exit 2 ;; esac

bench_init
ensure_reprise
RESULTS="$BENCH_TMP/results.jsonl"
: >"$RESULTS"
LOADAVG="$(cut -d' ' -f1-3 /proc/loadavg)"
TRACE="$BENCH_TMP/students.trace.zst"
gen_trace "$TRACE" students --sessions "$SESSIONS" --latency-us $((LATENCY_MS * 1000))

stop_pid() {
  kill -TERM "$1" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "$1" 2>/dev/null || true
}

check_fds() {
  local need=$((USERS + 100)) have
  have="$(ulimit -n)"
  if [ "$have" -lt "$need" ]; then
    die "$USERS users need $need open files, this shell allows $have (hard limit $(ulimit -Hn)); raise it with 'ulimit -Hn $need' as root or in /etc/security/limits.conf"
  fi
}

# run_reprise [NAME EXTRA_FLAGS...]: one reprise run (NAME reprise by default).
run_reprise() {
  local name="${1:-reprise}"
  shift || true
  local report="$BENCH_TMP/$name-report"
  rm -rf "$report" "$BENCH_TMP/$name.sse"
  start_mock "$LATENCY_MS"
  measure "$BENCH_TMP/$name.m.json" timeout -s INT $((DURATION + 120)) "$REPRISE" replay "$TRACE" \
    --target "http://127.0.0.1:$MOCK_PORT" --users "$USERS" --spawn-rate "$SPAWN_RATE" \
    --duration "${DURATION}s" --report "$report" "$@" >"$BENCH_TMP/$name.out" 2>"$BENCH_TMP/$name.err" || true
  stop_pid "$MOCK_PID"
  if [ ! -f "$report/summary.json" ]; then
    tail -20 "$BENCH_TMP/$name.err" >&2
    echo "{\"tool\":\"$name\",\"pair\":$PAIR,\"skipped\":\"no summary.json\"}" >>"$RESULTS"
    return
  fi
  "$PY" - "$report/summary.json" "$BENCH_TMP/$name.m.json" "$name" "$BENCH_TMP/$name.sse" "$PAIR" >>"$RESULTS" <<'EOF'
import json, os, sys
s, m = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
name, sse = sys.argv[3], sys.argv[4]
m["pair"] = int(sys.argv[5])
if os.path.exists(sse):
    text = open(sse, errors="replace").read()
    m["sse_frames"], m["sse_bytes"] = text.count("\nid: ") + text.startswith("id: "), len(text)
t = s["totals"]
series = [(p["t"], p["requests"], p.get("users", 0)) for p in s.get("series", [])]
print(json.dumps({"tool": name, "requests": t["requests"], "errors": t["failures"],
                  "lag_p99_ms": t["lag"]["p99_ms"], "lag_max_ms": t["lag"]["max_ms"],
                  "latency_p99_ms": t["latency"]["p99_ms"], "peak_users": t.get("peak_users"),
                  "failures": s.get("failures", []), "series": series, **m}))
EOF
}

# the reprise run with --web and one viewer reading the event stream for the whole run
run_reprise-web() {
  local err="$BENCH_TMP/reprise-web.err"
  : >"$err"
  (
    for _ in $(seq 1 1200); do
      url="$(sed -n 's/^live page: //p' "$err" 2>/dev/null | head -1)"
      [ -n "$url" ] && exec curl -sN --max-time $((DURATION + 150)) "${url}events" -o "$BENCH_TMP/reprise-web.sse"
      sleep 0.1
    done
  ) &
  local viewer=$!
  run_reprise reprise-web --web 127.0.0.1:0
  kill "$viewer" 2>/dev/null || true
  wait "$viewer" 2>/dev/null || true
}

run_locust() {
  ensure_locust || { echo '{"tool":"locust","skipped":"pip install locust failed"}' >>"$RESULTS"; return; }
  start_mock "$LATENCY_MS"
  (cd "$BENCH_DIR/locust" && LOCUST_LAG_OUT="$BENCH_TMP/locust-lag.json" measure "$BENCH_TMP/locust.m.json" \
    timeout -s INT $((DURATION + 120)) "$LOCUST" -f students.py --headless -u "$USERS" -r "$SPAWN_RATE" \
    -t "${DURATION}s" --host "http://127.0.0.1:$MOCK_PORT" --csv "$BENCH_TMP/locust" --csv-full-history \
    --only-summary --loglevel WARNING >"$BENCH_TMP/locust.out" 2>&1) || true
  stop_pid "$MOCK_PID"
  "$PY" - "$BENCH_TMP" >>"$RESULTS" <<'EOF'
import csv, json, os, sys
d = sys.argv[1]
m = json.load(open(f"{d}/locust.m.json"))
agg = next((r for r in csv.DictReader(open(f"{d}/locust_stats.csv")) if r["Name"] == "Aggregated"), None)
if agg is None:
    print(json.dumps({"tool": "locust", "skipped": "no Aggregated row in locust_stats.csv"})); sys.exit()
lag = json.load(open(f"{d}/locust-lag.json")) if os.path.exists(f"{d}/locust-lag.json") else {}
series, last = [], {}
for r in csv.DictReader(open(f"{d}/locust_stats_history.csv")):
    if r["Name"] == "Aggregated":
        t = int(r["Timestamp"])
        last[t] = (int(r["Total Request Count"]), int(r["User Count"]))
prev = None
for t in sorted(last):
    if prev is not None:
        series.append((t, last[t][0] - prev, last[t][1]))
    prev = last[t][0]
print(json.dumps({"tool": "locust", "requests": int(agg["Request Count"]), "errors": int(agg["Failure Count"]),
                  "lag_p99_ms": lag.get("p99_ms"), "lag_max_ms": lag.get("max_ms"),
                  "latency_p99_ms": float(agg["99%"]) if agg["99%"] not in ("N/A", "") else None,
                  "peak_users": max((u for _, _, u in series), default=None), "series": series, **m}))
EOF
}

check_fds
# the run order: reprise and reprise-web in PAIRS alternating pairs, any other tool once
ORDER=()
both=""
case " $TOOL_LIST " in *" reprise "*) case " $TOOL_LIST " in *" reprise-web "*) both=1 ;; esac ;; esac
for tool in $TOOL_LIST; do
  if [ -n "$both" ] && { [ "$tool" = reprise ] || [ "$tool" = reprise-web ]; }; then
    [ "$tool" = reprise ] || continue
    for p in $(seq 1 "$PAIRS"); do
      if [ $((p % 2)) -eq 1 ]; then ORDER+=("reprise:$p" "reprise-web:$p"); else ORDER+=("reprise-web:$p" "reprise:$p"); fi
    done
  else
    ORDER+=("$tool:1")
  fi
done
for item in "${ORDER[@]}"; do
  tool="${item%%:*}"
  PAIR="${item##*:}"
  log "$tool${both:+ (pair $PAIR of $PAIRS)}: $USERS users, spawn $SPAWN_RATE/s, ${DURATION}s, mock latency ${LATENCY_MS} ms"
  "run_$tool"
done

"$PY" - "$RESULTS" "$OUT_DIR/users10k.json" "$TRACE.meta.json" "$USERS" "$SPAWN_RATE" "$DURATION" "$LATENCY_MS" "$LOADAVG" <<'EOF'
import datetime, json, os, sys
res_file, out, meta_file = sys.argv[1:4]
users, rate, duration, latency_ms = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6]), float(sys.argv[7])
loadavg = sys.argv[8]
meta = json.load(open(meta_file))
rows = [json.loads(l) for l in open(res_file) if l.strip()]
lat_s = latency_ms / 1000 * meta["continue_share"]  # mean latency per request (continue only)
think = {"reprise": meta["mean_think_per_request_s"], "reprise-web": meta["mean_think_per_request_s"], "locust": 2.0}
ramp = users / rate
user_seconds = sum(max(0.0, duration - i / rate) for i in range(users))
for r in rows:
    if "skipped" in r:
        continue
    per_user = 1 / (think[r["tool"]] + lat_s)
    r["intended_rps_steady"] = users * per_user
    r["intended_requests"] = user_seconds * per_user
    r["achieved_share"] = r["requests"] / r["intended_requests"]
    # steady state: from 5 s after the ramp to 2 s before the end
    s = r.pop("series", [])
    if s:
        t0 = s[0][0]
        w = [n for t, n, _ in s if ramp + 5 <= t - t0 <= duration - 2]
        if w:
            r["achieved_rps_steady"] = sum(w) / len(w)
            r["achieved_share_steady"] = r["achieved_rps_steady"] / r["intended_rps_steady"]
    r["cpu_us_per_req"] = r["cpu_s"] * 1e6 / r["requests"] if r["requests"] else None
    r["peak_rss_mb"] = r["tree_peak_rss_kb"] / 1024
    r["rss_kb_per_user"] = r["tree_peak_rss_kb"] / users
    # flat over time: RSS 5 s after the ramp against RSS at the end of the run
    tl = [(t, kb) for t, kb in r.get("rss_timeline", []) if kb > 0]
    after = [kb for t, kb in tl if t >= ramp + 5]
    if len(after) >= 2:
        r["rss_after_ramp_mb"], r["rss_end_mb"] = after[0] / 1024, after[-1] / 1024

def f(v, spec):
    return "-" if v is None else format(v, spec)

print(f"\n{users} users, spawn {rate:g}/s, {duration:g} s, mock latency {latency_ms:g} ms (load avg at start {loadavg})")
many = max((r.get("pair", 1) for r in rows), default=1) > 1
for r in rows:
    r["label"] = f"{r['tool']}#{r.get('pair', 1)}" if many and r["tool"] in ("reprise", "reprise-web") else r["tool"]
print(f"{'tool':<13} {'intended':>9} {'steady':>8} {'%':>6} {'requests':>9} {'% run':>6} {'errors':>7} "
      f"{'cpu s':>7} {'µs/req':>7} {'peak RSS':>9} {'KB/user':>8} {'lag p99':>9}")
for r in rows:
    if "skipped" in r:
        print(f"{r['label']:<13} skipped: {r['skipped']}")
        continue
    print(f"{r['label']:<13} {r['intended_rps_steady']:>9.0f} {f(r.get('achieved_rps_steady'), '8.0f')} "
          f"{f(100 * r['achieved_share_steady'] if 'achieved_share_steady' in r else None, '6.1f')} "
          f"{r['requests']:>9} {100 * r['achieved_share']:>6.1f} {r['errors']:>7} {r['cpu_s']:>7.1f} "
          f"{f(r['cpu_us_per_req'], '7.1f')} {r['peak_rss_mb']:>7.1f}MB {r['rss_kb_per_user']:>8.1f} "
          f"{f(r['lag_p99_ms'], '7.1f')}ms")
ratios = []
for p in sorted({r.get("pair", 1) for r in rows}):
    plain = next((r for r in rows if r["tool"] == "reprise" and r.get("pair", 1) == p and "skipped" not in r), None)
    web = next((r for r in rows if r["tool"] == "reprise-web" and r.get("pair", 1) == p and "skipped" not in r), None)
    if plain and web and plain["cpu_us_per_req"] and web["cpu_us_per_req"]:
        ratio = web["cpu_us_per_req"] / plain["cpu_us_per_req"]
        web["cpu_ratio_vs_reprise"] = ratio
        ratios.append(ratio)
        print(f"--web with one open page{f' (pair {p})' if many else ''}: {web['cpu_us_per_req']:.1f} µs/req vs "
              f"{plain['cpu_us_per_req']:.1f} without: ratio {ratio:.3f} ({100 * (ratio - 1):+.1f} %); "
              f"the page read {web.get('sse_frames', 0)} events, {web.get('sse_bytes', 0) / 1024:.0f} KiB")
web_ratio = None
if ratios:
    srt = sorted(ratios)
    n = len(srt)
    web_ratio = srt[n // 2] if n % 2 else (srt[n // 2 - 1] + srt[n // 2]) / 2
    # the target is the page's cost: at most 3 % more CPU per request (a ratio below 1 is
    # the two runs' noise — the page cannot make the replay cheaper)
    print(f"--web CPU per request, median ratio of {n} pair(s): {web_ratio:.3f} ({100 * (web_ratio - 1):+.1f} %; "
          f"highest pair {srt[-1]:.3f}; target at most 3 % more: {'✅' if web_ratio <= 1.03 else '❌'})")
for r in rows:
    if "rss_end_mb" in r:
        print(f"{r['tool']}: RSS {r['rss_after_ramp_mb']:.1f} MB 5 s after the ramp, {r['rss_end_mb']:.1f} MB at the end "
              f"({100 * (r['rss_end_mb'] / r['rss_after_ramp_mb'] - 1):+.1f} %)")
targets = {}
rp = next((r for r in rows if r["tool"] == "reprise" and "skipped" not in r), None)
if rp:
    share = rp.get("achieved_share_steady", rp["achieved_share"])
    targets = {"rate_ge_99pct": {"value": 100 * share, "ok": share >= 0.99},
               "zero_errors": {"value": rp["errors"], "ok": rp["errors"] == 0},
               "peak_rss_le_200MB": {"value": rp["peak_rss_mb"], "ok": rp["peak_rss_mb"] <= 200},
               "lag_p99_le_10ms": {"value": rp["lag_p99_ms"], "ok": rp["lag_p99_ms"] is not None and rp["lag_p99_ms"] <= 10}}
    print("\nreprise targets: " + ", ".join(f"{k} {v['value']:.1f} {'✅' if v['ok'] else '❌'}" for k, v in targets.items()))
doc = {"bench": "users10k", "at": datetime.datetime.now(datetime.timezone.utc).isoformat(), "users": users,
       "spawn_rate": rate, "duration_s": duration, "mock_latency_ms": latency_ms, "cores": os.cpu_count(),
       "loadavg_at_start": loadavg, "recording": meta, "results": rows, "targets": targets,
       "web_cpu_ratios": ratios, "web_cpu_ratio_median": web_ratio}
json.dump(doc, open(out, "w"), indent=1)
print(f"\nwrote {out}")
EOF
