#!/bin/bash
# A one-node Slurm cluster on loopback, for trying `joulebench slurm` on one machine.
#
#   sudo bench/slurm/local-cluster.sh          # install (Debian/Ubuntu), configure, start
#   source /tmp/jb-slurm/env.sh                # SLURM_CONF for sbatch, squeue, scontrol
#   sudo bench/slurm/local-cluster.sh stop     # stop the daemons this script started
#
# Idempotent: packages are installed only when missing, the configuration is rewritten
# each time, and daemons already running (per their pid files) are left alone. Everything
# lives under $JB_SLURM_DIR (default /tmp/jb-slurm); /etc/slurm is not touched. Needs
# root (apt-get, munged, slurmd).
#
# What it sets up: munged (authentication), slurmctld (controller) and slurmd (the one
# compute node, named after `hostname -s`, reached at 127.0.0.1), one partition `local`.
# No cgroups (ProctrackType=proctrack/linuxproc, TaskPlugin=task/none), select/cons_tres
# with cores as the unit, no accounting database: finished jobs stay visible to
# `scontrol show job` and `squeue --states=all` for an hour (MinJobAge), and each job's
# end is appended to $JB_SLURM_DIR/jobcomp.log (JobCompType=jobcomp/filetxt); `sacct`
# has no database to read and says so.
set -euo pipefail

DIR=${JB_SLURM_DIR:-/tmp/jb-slurm}
CONF=$DIR/slurm.conf

stop() {
    for name in slurmd slurmctld munged; do
        pidfile=$DIR/$name.pid
        # Read once, before the signal: the daemon removes its pid file as it exits.
        pid=$(cat "$pidfile" 2>/dev/null || true)
        if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" && echo "stopped $name (pid $pid)"
        fi
        rm -f "$pidfile"
    done
}

if [ "${1:-start}" = stop ]; then
    stop
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "run as root: it installs packages and starts munged, slurmctld and slurmd" >&2
    exit 2
fi

# 1. Packages.
missing=()
for cmd in munged slurmctld slurmd sbatch; do
    command -v "$cmd" >/dev/null || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing slurm-wlm and munge (missing: ${missing[*]})"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slurm-wlm munge
fi

mkdir -p "$DIR/state" "$DIR/spool" "$DIR/munge"

# 2. munge: a key (kept across restarts) and the daemon, run as its own user.
if [ ! -s /etc/munge/munge.key ]; then
    if command -v mungekey >/dev/null; then
        mungekey --create --force
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge/munge.key
    chmod 0400 /etc/munge/munge.key
fi
chown munge:munge "$DIR/munge"
mkdir -p /run/munge /var/log/munge /var/lib/munge
chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! { [ -f "$DIR/munged.pid" ] && kill -0 "$(cat "$DIR/munged.pid")" 2>/dev/null; }; then
    runuser -u munge -- /usr/sbin/munged --pid-file="$DIR/munge/munged.pid"
    sleep 1
    cp "$DIR/munge/munged.pid" "$DIR/munged.pid"
fi
munge -n | unmunge >/dev/null && echo "munge: a credential round-trips"

# 3. slurm.conf: this machine as the one node, as slurmd sees its hardware.
node_line=$(slurmd -C | head -1)
node_name=$(hostname -s)
cat >"$CONF" <<EOF
# Written by bench/slurm/local-cluster.sh: a one-node cluster on loopback.
ClusterName=joulebench-local
SlurmctldHost=$node_name(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
SwitchType=switch/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=3600
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/jobcomp.log
MailProg=/bin/true
$node_line NodeAddr=127.0.0.1 NodeHostname=$node_name State=UNKNOWN
PartitionName=local Nodes=$node_name Default=YES MaxTime=INFINITE State=UP
EOF
echo "export SLURM_CONF=$CONF" >"$DIR/env.sh"
export SLURM_CONF=$CONF

# 4. The daemons.
if ! { [ -f "$DIR/slurmctld.pid" ] && kill -0 "$(cat "$DIR/slurmctld.pid")" 2>/dev/null; }; then
    slurmctld -f "$CONF"
fi
if ! { [ -f "$DIR/slurmd.pid" ] && kill -0 "$(cat "$DIR/slurmd.pid")" 2>/dev/null; }; then
    slurmd -f "$CONF" -N "$node_name"
fi
for _ in $(seq 1 30); do
    if sinfo -h -o '%T' 2>/dev/null | grep -qE '^(idle|mixed|allocated)'; then
        break
    fi
    sleep 1
done
scontrol update NodeName="$node_name" State=RESUME 2>/dev/null || true
sinfo
echo "ready: source $DIR/env.sh, then sbatch / squeue / scontrol (logs in $DIR)"
