#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, for the SLURM test of the workflow (tests/test_slurm.py).
#
#   sudo bash .ci/slurm_up.sh          # installs Debian's slurm-wlm, slurmdbd, munge, mariadb-server if missing,
#                                      # then starts munged, mariadb, slurmdbd, slurmctld and slurmd
#   sudo bash .ci/slurm_up.sh down     # stops the daemons it started (by their pid files)
#
# The cluster: one node (this host, all its CPUs, select/cons_tres), one partition `ci`, accounting through
# slurmdbd + MariaDB (the Snakemake SLURM executor plugin polls `sacct`; without accounting it waits forever).
# No cgroups and no systemd: the plain Linux process tracker, so it runs in containers and CI VMs as root.
# Idempotent: a cluster that already answers `sinfo` is left alone. Prints how long it took.
set -euo pipefail
start=$(date +%s)
STATE=/var/lib/elcrec-ci-slurm          # pid files, spool, logs of this CI cluster (nothing outside it is changed
RUN="$STATE/run"                        # except /etc/slurm/{slurm,slurmdbd}.conf, written when absent or ours)
CONF=/etc/slurm
MARK="# written by elcrec .ci/slurm_up.sh"

if [ "$(id -u)" != 0 ]; then
  echo "slurm_up.sh: run as root (it installs packages and starts daemons)" >&2
  exit 2
fi

stop_all() {  # only a pid that still names its daemon: a stale pid file (machine reused) may name anything
  local pid
  for d in slurmd slurmctld slurmdbd; do
    if [ -f "$RUN/$d.pid" ]; then
      pid=$(cat "$RUN/$d.pid")
      [ "$(ps -p "$pid" -o comm= 2>/dev/null)" = "$d" ] && { kill "$pid" 2>/dev/null || true; }
      rm -f "$RUN/$d.pid"
    fi
  done
}

if [ "${1:-}" = down ]; then
  stop_all
  echo "SLURM CI cluster stopped (munged and mariadb keep running)"
  exit 0
fi

# Up means the node answers AND accounting answers: with MariaDB gone, sacct fails and the executor plugin
# waits forever on its job states (seen here: a database that died under a running cluster).
if command -v sinfo >/dev/null && sinfo -h -p cpu -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)' \
   && sacct -n -X -S now >/dev/null 2>&1; then
  echo "SLURM cluster already up: $(sinfo -h -o '%P %D %t %c')"
  exit 0
fi

# --- packages (Debian: ~30 s as root) -------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v mariadbd >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq slurm-wlm slurmdbd munge mariadb-server >/dev/null
fi

mkdir -p "$RUN" "$STATE/spool/ctld" "$STATE/spool/d" "$STATE/log" "$CONF"
chown -R slurm:slurm "$STATE" 2>/dev/null || true
HOST=$(hostname -s)
CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print int($2 / 1024)}' /proc/meminfo) - 1024 ))  # MB, leave 1 GB to the system

# --- munge (authentication between the daemons) ----------------------------------------------------------
if [ ! -s /etc/munge/munge.key ]; then
  mkdir -p /etc/munge
  dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
fi
chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
if ! munge -n >/dev/null 2>&1; then
  runuser -u munge -- /usr/sbin/munged --force
  for _ in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
fi

# --- MariaDB (slurmdbd's store) ----------------------------------------------------------------------------
if ! mysqladmin ping >/dev/null 2>&1; then
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  (mysqld_safe --user=mysql >/dev/null 2>&1 &)
  for _ in $(seq 100); do mysqladmin ping >/dev/null 2>&1 && break; sleep 0.2; done
fi
mysql -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
          CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
          GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost'; FLUSH PRIVILEGES;"

# --- configuration -----------------------------------------------------------------------------------------
write_conf() {  # never replace a site's own configuration: only files that are absent or written by us
  local path=$1
  if [ -f "$path" ] && ! grep -qF "$MARK" "$path"; then
    echo "slurm_up.sh: $path exists and was not written by this script; refusing to replace it" >&2
    exit 3
  fi
  cat > "$path"
}
write_conf "$CONF/slurmdbd.conf" <<EOF
$MARK
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
PidFile=$RUN/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
chown slurm:slurm "$CONF/slurmdbd.conf" && chmod 600 "$CONF/slurmdbd.conf"

write_conf "$CONF/slurm.conf" <<EOF
$MARK
ClusterName=elcrecci
SlurmctldHost=$HOST
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=$STATE/spool/ctld
SlurmdSpoolDir=$STATE/spool/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
# No cgroups (containers, CI VMs): plain process tracking.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
JobCompType=jobcomp/none
ReturnToService=2
MinJobAge=300
SlurmdTimeout=60
InactiveLimit=0
KillWait=5
NodeName=$HOST CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=cpu Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF

# --- daemons -------------------------------------------------------------------------------------------------
stop_all
/usr/sbin/slurmdbd
for _ in $(seq 100); do sacctmgr -n show cluster >/dev/null 2>&1 && break; sleep 0.2; done
sacctmgr -i add cluster elcrecci >/dev/null 2>&1 || true
sacctmgr -i add account ci Cluster=elcrecci Description=ci Organization=ci >/dev/null 2>&1 || true
for user in root "${SUDO_USER:-}"; do
  [ -n "$user" ] && { sacctmgr -i add user "$user" Account=ci DefaultAccount=ci >/dev/null 2>&1 || true; }
done
/usr/sbin/slurmctld
/usr/sbin/slurmd
for _ in $(seq 150); do
  sinfo -h -o %t 2>/dev/null | grep -qE '^(idle|mix|alloc)' && break
  sleep 0.2
done
if ! sinfo -h -o %t | grep -qE '^(idle|mix|alloc)'; then
  echo "slurm_up.sh: the node did not come up; see $STATE/log/" >&2
  sinfo >&2 || true
  tail -n 20 "$STATE/log/slurmctld.log" "$STATE/log/slurmd.log" >&2 || true
  exit 1
fi
echo "SLURM cluster up in $(( $(date +%s) - start )) s: $(sinfo -h -o '%P %D %t cpus=%c mem=%m')"
