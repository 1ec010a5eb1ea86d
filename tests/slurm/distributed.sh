#!/usr/bin/env bash
# Inside tests/slurm/cluster.sh: submits one distributed test with deploy/slurm/submit.sh
# (parameters from the environment: RESULTS, RUN, RECORDING, TARGET, …), waits for the
# merge job, then submits a second merge of the same shards with MERGE_FAIL_ARGS (a
# threshold that must fail). Writes "<job> <state> <exit code>" lines to
# $RESULTS/$RUN/jobs.txt. Bounded: gives up after WAIT_S seconds (default 120).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
deadline=$(( $(date +%s) + ${WAIT_S:-120} ))

# waits until job $1 is over; prints "<state> <exit code>" (scontrol: ExitCode=rc:signal)
wait_job() {
  while :; do
    line=$(scontrol -o show job "$1" 2>/dev/null || true)
    state=$(sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p' <<<"$line")
    code=$(sed -n 's/.* ExitCode=\([0-9]*:[0-9]*\).*/\1/p' <<<"$line")
    case $state in
      COMPLETED | FAILED | CANCELLED | TIMEOUT | NODE_FAIL | OUT_OF_MEMORY) echo "$state $code"; return ;;
    esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "distributed.sh: job $1 still $state after ${WAIT_S:-120} s" >&2
      squeue >&2 || true
      return 1
    fi
    sleep 0.5
  done
}

read -r shards merge < <("$repo/deploy/slurm/submit.sh")
out="$RESULTS/$RUN/jobs.txt"
: >"$out"
for t in $(seq 0 $(( SHARDS - 1 ))); do
  echo "shard-$t $(wait_job "${shards}_$t")" >>"$out"
done
echo "merge $(wait_job "$merge")" >>"$out"
fail=$(MERGED="$RESULTS/$RUN/merged-fail" MERGE_ARGS="$MERGE_FAIL_ARGS" sbatch --parsable --export=ALL \
  --output="$RESULTS/$RUN/logs/merge-fail.log" "$repo/deploy/slurm/merge.sbatch")
echo "merge-fail $(wait_job "${fail%%;*}")" >>"$out"
cat "$out" >&2
echo "--- merge.log" >&2
cat "$RESULTS/$RUN/logs/merge.log" >&2
