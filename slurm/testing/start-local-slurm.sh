#!/usr/bin/env bash
# Start a real single-node Slurm cluster on this machine, as root, without systemd, on localhost
# only: munge, MariaDB + slurmdbd (accounting, so that sacct works: submitit reads job states
# with sacct, and without it a cancelled job stays UNKNOWN forever), slurmctld and slurmd.
# Partitions: gpu (default) and cpu, both on this node, no real GPUs.
# Usage: start-local-slurm.sh [STATE_DIR]   (default /tmp/slurm-local)
# Stop with stop-local-slurm.sh [STATE_DIR]: it ends exactly the daemons this script started.
#
# Idempotent: when a healthy cluster already answers (node idle/mix/alloc and sacct works) it is
# left alone and nothing is written to STATE_DIR/pids, so a later stop ends only what a start
# here began. CI (.ci/run) and tests/slurm/conftest.py both call it.
# Seen working with Slurm 22.05.8 on Debian 12 (docs/testing.md has its gotchas).
set -euo pipefail
dir=${1:-/tmp/slurm-local}
healthy() {
  case "$(sinfo -h -N -o %t 2>/dev/null | head -n1 || true)" in idle|mix|alloc|comp) ;; *) return 1;; esac
  sacct -n -X -S now >/dev/null 2>&1
}
if command -v sinfo >/dev/null && [ -s /etc/slurm/slurm.conf ] && healthy; then
  echo "local Slurm already up ($(sinfo -h -o '%P' | tr '\n' ' ')); left as it is"
  exit 0
fi
[ "$(id -u)" = 0 ] || { echo "start-local-slurm: needs root (it writes /etc/slurm and starts daemons)" >&2; exit 2; }
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v slurmdbd >/dev/null \
   || ! command -v mariadbd >/dev/null; then
  echo "start-local-slurm: installing slurm-wlm, slurmdbd, munge and mariadb-server from Debian's packages" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
fi
# a half-started cluster from an earlier start in this STATE_DIR: stop what it left first, so the
# ports are free (daemons started by someone else are never touched: only PIDs from our file)
if [ -s "$dir/pids" ]; then
  bash "$(dirname "$0")/stop-local-slurm.sh" "$dir" >/dev/null 2>&1 || true
fi
host=$(hostname -s)
getent hosts "$host" >/dev/null || echo "127.0.0.1 $host" >> /etc/hosts
# a test cluster starts clean: fresh state (job ids restart at 1) and, below, a fresh accounting
# database, so that sacct never reports an old job's state under a new job's id
rm -rf "$dir/state" "$dir/spool"
mkdir -p "$dir/state" "$dir/spool" "$dir/log" /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
  dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 700 /etc/munge; chmod 400 /etc/munge/munge.key; chmod 755 /run/munge
cpus=$(nproc)
mem=$(( $(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo) * 9 / 10 ))
mkdir -p /etc/slurm
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=local
SlurmctldHost=$host(127.0.0.1)
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
MinJobAge=600
KillWait=5
DefMemPerCPU=1024
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=gpu Nodes=$host Default=YES MaxTime=INFINITE State=UP
PartitionName=cpu Nodes=$host MaxTime=INFINITE State=UP
CONF
: > "$dir/pids"
wait_for() { # wait_for SECONDS WHAT COMMAND...
  local n=$1 what=$2; shift 2
  for _ in $(seq "$n"); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "start-local-slurm: $what did not come up; logs in $dir/log/" >&2; exit 1
}
live_pid() { # newest live (not zombie) process with this exact name; PID 1 here reaps late
  ps -eo pid=,stat=,comm= | awk -v n="$1" '$3 == n && $2 !~ /^Z/ {p = $1} END {if (p) print p; else exit 1}'
}
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- munged --force
  wait_for 20 munged munge -n
  live_pid munged >> "$dir/pids"
fi
# accounting database: MariaDB on its default socket (slurmdbd 22.05 cannot be pointed at
# another one), no TCP; slurmdbd in front of it
mkdir -p /run/mysqld; chown mysql:mysql /run/mysqld
sock=/run/mysqld/mysqld.sock
if ! mariadb --socket="$sock" -e "select 1" >/dev/null 2>&1; then
  touch "$dir/log/mariadb.log"; chown mysql:mysql "$dir/log/mariadb.log"  # mariadbd runs as mysql
  mariadbd --user=mysql --socket="$sock" --pid-file=/run/mysqld/mariadb.pid --skip-networking \
    --log-error="$dir/log/mariadb.log" >/dev/null 2>&1 &
  wait_for 60 MariaDB mariadb --socket="$sock" -e "select 1"
  cat /run/mysqld/mariadb.pid >> "$dir/pids"
fi
mariadb --socket="$sock" -e "DROP DATABASE IF EXISTS slurm_acct_db;"
mariadb --socket="$sock" -e "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm-local';
  GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"
cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StoragePort=0
StorageUser=slurm
StoragePass=slurm-local
StorageLoc=slurm_acct_db
PidFile=$dir/slurmdbd.pid
LogFile=$dir/log/slurmdbd.log
CONF
chmod 600 /etc/slurm/slurmdbd.conf
slurmdbd
wait_for 60 slurmdbd sacctmgr -n list cluster
cat "$dir/slurmdbd.pid" >> "$dir/pids"
sacctmgr -i add cluster local >/dev/null 2>&1 || true
slurmctld -i; sleep 1; cat "$dir/slurmctld.pid" >> "$dir/pids"
slurmd; sleep 1; cat "$dir/slurmd.pid" >> "$dir/pids"
for _ in $(seq 60); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -n1 || true)
  case "$state" in idle|mix|alloc) echo "local Slurm up: node $host ($cpus CPUs, ${mem} MB), partitions gpu (default) and cpu; pids in $dir/pids"; exit 0;; esac
  sleep 1
done
echo "start-local-slurm: node never became idle; see $dir/log/" >&2
sinfo -N -l >&2 || true
exit 1
