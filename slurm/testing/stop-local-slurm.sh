#!/usr/bin/env bash
# Stop the daemons that start-local-slurm.sh started (their PIDs are in STATE_DIR/pids), newest
# first, and wait until they are gone so that a new start finds its ports free. Idempotent: with
# no pids file there is nothing of ours to stop. Never stops a daemon it did not start.
dir=${1:-/tmp/slurm-local}
[ -f "$dir/pids" ] || { echo "stop-local-slurm: no $dir/pids: nothing started here"; exit 0; }
alive() { # a live (not zombie) process; PID 1 here reaps late, so a zombie counts as gone
  local stat
  stat=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  case "$stat" in Z*) return 1;; esac
}
mapfile -t pids < <(tac "$dir/pids")
for pid in "${pids[@]}"; do
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
done
for pid in "${pids[@]}"; do
  [ -n "$pid" ] || continue
  for _ in $(seq 40); do alive "$pid" || break; sleep 0.25; done
  if alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; fi
done
rm -f "$dir/pids"
echo "local Slurm stopped"
