#!/usr/bin/env bash
# Submits one distributed reprise test to Slurm: the shards as an array job, then the
# merge as a job that depends on all of them (afterany: it runs even when a shard failed,
# and reports it). Parameters: deploy/params.env (a variable set in the environment wins;
# PARAMS=file reads another file). Prints the two job ids: `<shards> <merge>`.
#
#   deploy/slurm/submit.sh                         # then: squeue; cat results/<run>/merged/...
#   SHARDS=8 USERS=4000 TARGET=http://api:8000 deploy/slurm/submit.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${PARAMS:=$here/../params.env}"
# shellcheck source=../params.env
. "$PARAMS"
: "${START_AT:=$(date -u -d "@$(( $(date +%s) + START_DELAY ))" +%Y-%m-%dT%H:%M:%SZ)}"
case $SHARDS in '' | *[!0-9]* | 0) echo "submit.sh: SHARDS=$SHARDS is not a positive number" >&2; exit 2 ;; esac
[ -r "$RECORDING" ] || { echo "submit.sh: cannot read RECORDING=$RECORDING" >&2; exit 2; }
mkdir -p "$RESULTS/$RUN/logs"
export RUN SHARDS USERS SPAWN_RATE DURATION SPEED TARGET RECORDING PROFILE START_AT \
  START_TOLERANCE EXTRA_ARGS MERGE_ARGS RESULTS REPRISE
# shellcheck disable=SC2086  # SBATCH_ARGS is a list of flags
shards=$(sbatch --parsable --export=ALL --array="0-$(( SHARDS - 1 ))" \
  --output="$RESULTS/$RUN/logs/shard-%a.log" $SBATCH_ARGS "$here/shard.sbatch")
shards=${shards%%;*}
# shellcheck disable=SC2086
merge=$(sbatch --parsable --export=ALL --dependency="afterany:$shards" \
  --output="$RESULTS/$RUN/logs/merge.log" $SBATCH_ARGS "$here/merge.sbatch")
merge=${merge%%;*}
echo "submit.sh: run $RUN, $SHARDS shards start at $START_AT: array job $shards, merge job $merge ($RESULTS/$RUN)" >&2
echo "$shards $merge"
