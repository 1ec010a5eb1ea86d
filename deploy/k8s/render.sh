#!/bin/sh
# Renders the Kubernetes manifests of one distributed test to stdout, from the parameters
# in deploy/params.env (a variable set in the environment wins):
#
#   deploy/k8s/render.sh > test.yaml && kubectl apply -f test.yaml
#
# Output, in order: a ConfigMap with the recording and the profile, the results
# PersistentVolumeClaim, the Indexed Job of the shards, the merge Job. START_AT is the
# render time + START_DELAY unless set: apply right after rendering.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
: "${PARAMS:=$here/../params.env}"
# shellcheck source=../params.env
. "$PARAMS"
case $SHARDS in '' | *[!0-9]* | 0) echo "render.sh: SHARDS=$SHARDS is not a positive number" >&2; exit 2 ;; esac
case $DURATION in '' | *[!0-9]*) echo "render.sh: DURATION=$DURATION: give the test's length in seconds" >&2; exit 2 ;; esac
: "${START_AT:=$(date -u -d "@$(( $(date +%s) + START_DELAY ))" +%Y-%m-%dT%H:%M:%SZ)}"
: "${JOB_DEADLINE_S:=$(( START_DELAY + DURATION + MERGE_GRACE + 600 ))}"
export RUN SHARDS USERS SPAWN_RATE DURATION SPEED TARGET START_AT START_TOLERANCE \
  MERGE_ARGS MERGE_GRACE IMAGE NAMESPACE RESULTS_CLAIM RESULTS_SIZE MEMORY CPU JOB_DEADLINE_S
for f in "$RECORDING" "$PROFILE"; do
  [ -r "$f" ] || { echo "render.sh: cannot read $f (RECORDING / PROFILE in $PARAMS)" >&2; exit 2; }
done

# ${NAME} → the value of NAME; anything else (shell $(…), $$) is left as it is.
subst() {
  awk '{
    out = ""
    while (match($0, /\$\{[A-Z_]+\}/)) {
      name = substr($0, RSTART + 2, RLENGTH - 3)
      if (!(name in ENVIRON)) { print "render.sh: ${" name "} is not a parameter" > "/dev/stderr"; exit 2 }
      out = out substr($0, 1, RSTART - 1) ENVIRON[name]
      $0 = substr($0, RSTART + RLENGTH)
    }
    print out $0
  }' "$1"
}

cat <<YAML
# reprise run $RUN: $SHARDS shards, $USERS users, start at $START_AT
apiVersion: v1
kind: ConfigMap
metadata:
  name: $RUN-inputs
  namespace: $NAMESPACE
  labels:
    app.kubernetes.io/name: reprise
    reprise/run: $RUN
data:
  profile.toml: |
$(sed 's/^/    /' "$PROFILE")
binaryData:
  recording.trace.zst: $(base64 -w0 "$RECORDING")
YAML
for f in results-pvc.yaml shards-job.yaml merge-job.yaml; do
  echo "---"
  subst "$here/$f"
done
