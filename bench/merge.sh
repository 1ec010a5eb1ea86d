#!/usr/bin/env bash
# The cost of the merge step of a distributed test: `reprise report` merging SHARDS
# synthetic shard summaries (examples/synth_shards.rs: every histogram filled, a SECONDS-long
# 1-second series), measured with bench/measure.py: wall time, CPU, peak RSS.
#
#   bench/merge.sh                      # 100 shards × 600 s
#   SHARDS=20 SECONDS_=300 bench/merge.sh
#
# Writes reports/bench/merge.json. Nothing touches the network.
. "$(dirname "$0")/lib.sh"
bench_init
SHARDS="${SHARDS:-100}"
SECONDS_="${SECONDS_:-600}"
work="$BENCH_TMP"  # removed by bench_cleanup on exit
if [ -z "${NO_BUILD:-}" ]; then
  log "building release binary and the synthetic-summary example"
  (cd "$ROOT" && cargo build --release --quiet --bin reprise --example synth_shards)
fi
"$ROOT/target/release/examples/synth_shards" "$work" "$SHARDS" "$SECONDS_"
mkdir -p "$OUT_DIR"
"$PY" "$BENCH_DIR/measure.py" "$work/measure.json" -- \
  "$REPRISE" report "$work"/shard-*/ --out "$work/merged" --threshold 'p95 < 5s' >"$work/report.txt"
rc=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["rc"])' "$work/measure.json")
[ "$rc" = 0 ] || [ "$rc" = 1 ] || die "reprise report exited $rc: $(tail -5 "$work/report.txt")"
grep -E '^shards:' "$work/report.txt" >&2 || true
"$PY" - "$work/measure.json" "$OUT_DIR/merge.json" "$SHARDS" "$SECONDS_" \
  "$(du -sk "$work" | cut -f1)" "$(stat -c %s "$work/merged/summary.json")" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
shards, seconds, input_kb, merged_b = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
out = {"shards": shards, "series_seconds": seconds, "input_mb": round(input_kb / 1024, 1),
       "merged_summary_mb": round(merged_b / 1e6, 2), "wall_s": round(m["wall_s"], 2),
       "cpu_s": round(m["cpu_s"], 2), "peak_rss_mb": round(m["maxrss_kb"] / 1024, 1)}
json.dump(out, open(sys.argv[2], "w"), indent=1)
print(f"merge of {shards} shard summaries ({seconds} s series, {out['input_mb']} MB of report "
      f"directories): wall {out['wall_s']} s, CPU {out['cpu_s']} s, peak RSS {out['peak_rss_mb']} MB, "
      f"merged summary.json {out['merged_summary_mb']} MB")
PY
