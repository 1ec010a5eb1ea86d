#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for as long as a command runs:
#
#   tests/slurm/cluster.sh COMMAND [ARGS…]
#
# Starts munged, slurmctld and slurmd (Debian's slurm-wlm and munge) as the current user
# with a minimal slurm.conf in a temporary directory — loopback only, ports picked free —
# runs COMMAND with SLURM_CONF exported (so sbatch, squeue and scontrol talk to this
# cluster), then stops every daemon it started, by pid, and removes the directory.
# Exit code: COMMAND's; 77 when Slurm or munge is not installed; 1 when the cluster does
# not come up within 60 s (the daemons' logs are printed).
set -euo pipefail

for b in munged mungekey slurmctld slurmd sbatch scontrol sinfo; do
  if ! command -v "$b" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$b" ]; then
    echo "cluster.sh: $b not found (apt-get install slurm-wlm munge)" >&2
    exit 77
  fi
done
export PATH="$PATH:/usr/sbin"

dir=$(mktemp -d /tmp/reprise-slurm.XXXXXX)
chmod 0700 "$dir"
pids=()
cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$p" 2>/dev/null || true
  done
  if [ "${KEEP_SLURM_DIR:-}" = "" ]; then rm -rf "$dir"; else echo "cluster.sh: kept $dir" >&2; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
user=$(id -un)
group=$(id -gn)
ctl_port=$(free_port)
d_port=$(free_port)
while [ "$d_port" = "$ctl_port" ]; do d_port=$(free_port); done
cpus=$(nproc)

# munge: its own key, socket and state in $dir
mkdir -p "$dir/munge" "$dir/state" "$dir/spool" "$dir/log"
chmod 0755 "$dir/munge"  # the socket lives here: clients need to reach it
mungekey --create --keyfile="$dir/munge/munge.key" 2>/dev/null \
  || dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
chmod 0400 "$dir/munge/munge.key"
socket="$dir/munge/munge.socket"
munged --force --foreground --key-file="$dir/munge/munge.key" --socket="$socket" \
  --pid-file="$dir/munge/munged.pid" --seed-file="$dir/munge/munged.seed" \
  --log-file="$dir/log/munged.log" 2>>"$dir/log/munged.out" &
pids+=($!)

cat >"$dir/slurm.conf" <<CONF
ClusterName=reprise-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$d_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
AuthInfo=socket=$socket
CredType=cred/munge
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=600
KillWait=5
SlurmdTimeout=30
InactiveLimit=0
SlurmdParameters=config_overrides
NodeName=node0 NodeHostname=localhost NodeAddr=127.0.0.1 Port=$d_port CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=node0 Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:16
CONF
export SLURM_CONF="$dir/slurm.conf"

for _ in $(seq 50); do [ -S "$socket" ] && break; sleep 0.1; done
slurmctld -D -i -f "$SLURM_CONF" >"$dir/log/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -N node0 -f "$SLURM_CONF" >"$dir/log/slurmd.out" 2>&1 &
pids+=($!)

up=""
for _ in $(seq 120); do
  if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then up=1; break; fi
  sleep 0.5
done
if [ -z "$up" ]; then
  echo "cluster.sh: the one-node cluster did not come up within 60 s" >&2
  sinfo -N -l >&2 || true
  tail -n 30 "$dir"/log/* >&2 || true
  exit 1
fi
echo "cluster.sh: one-node Slurm cluster up (slurmctld :$ctl_port, slurmd :$d_port, $cpus CPUs, $dir)" >&2

set +e
"$@"
rc=$?
set -e
if [ "$rc" != 0 ]; then
  echo "cluster.sh: command exited $rc; daemon logs:" >&2
  tail -n 20 "$dir"/log/slurmctld.log "$dir"/log/slurmd.log >&2 || true
fi
exit "$rc"
