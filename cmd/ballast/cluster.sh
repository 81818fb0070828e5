#!/usr/bin/env bash
# make cluster: three ballast members as local processes on loopback (by default the ports of
# etcd's own Procfile: clients 12379/22379/32379, peers 12380/22380/32380; CLUSTER_BASE_PORT=N
# moves them to N, N+10000, N+20000 and the next port for peers), logs under reports/cluster/,
# data under reports/cluster/data/ (kept between runs: a second `make cluster` restarts the same
# members; CLUSTER_FRESH=1 starts from empty data dirs). Prints the etcdctl line to use, then
# waits; Ctrl-C (or CLUSTER_SECONDS elapsing, when set) stops all three. Every wait is bounded:
# a member not ready within CLUSTER_READY_SECONDS (60) stops the whole cluster with its log's
# tail, and so does any member exiting on its own.
set -euo pipefail

GO=${GO:-go}
out=reports/cluster
bin=.bin/ballast
ready_seconds=${CLUSTER_READY_SECONDS:-60}
base=${CLUSTER_BASE_PORT:-12379}
client_port() { echo $((base + ($1 - 1) * 10000)); }
peer_port() { echo $((base + ($1 - 1) * 10000 + 1)); }

mkdir -p "$out" .bin
# One make cluster at a time: a second one would truncate the first one's logs and fight over
# its ports and data dirs.
exec 9>"$out/.lock"
if ! flock -n 9; then
  echo "make cluster: another make cluster is running (it holds $out/.lock)"; exit 1
fi
"$GO" build -o "$bin" ./cmd/ballast
if [[ "${CLUSTER_FRESH:-0}" == 1 ]]; then
  rm -rf "$out/data"
fi
mkdir -p "$out/data"

names=(m1 m2 m3)
initial="m1=http://127.0.0.1:$(peer_port 1),m2=http://127.0.0.1:$(peer_port 2),m3=http://127.0.0.1:$(peer_port 3)"
pids=()

stop_all() {
  trap - INT TERM EXIT
  echo "make cluster: stopping ${pids[*]:-nothing}"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # Bounded: a member that has not stopped 20 s after SIGTERM is killed.
  for _ in $(seq 200); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap 'stop_all; exit 130' INT TERM
trap 'stop_all' EXIT

for i in 1 2 3; do
  name=m$i
  # Truncated here, not by the background command's redirection: that one runs in the child,
  # after this shell may already have read the previous run's "ready" line.
  : >"$out/$name.log"
  "$bin" --name "$name" --data-dir "$out/data/$name.etcd" \
    --listen-client-urls "http://127.0.0.1:$(client_port $i)" --advertise-client-urls "http://127.0.0.1:$(client_port $i)" \
    --listen-peer-urls "http://127.0.0.1:$(peer_port $i)" --initial-advertise-peer-urls "http://127.0.0.1:$(peer_port $i)" \
    --initial-cluster "$initial" --initial-cluster-state new --initial-cluster-token ballast-make-cluster \
    >>"$out/$name.log" 2>&1 &
  pids+=($!)
done

deadline=$((SECONDS + ready_seconds))
for name in "${names[@]}"; do
  while ((SECONDS < deadline)); do
    grep -q '"msg":"ready to serve client requests"' "$out/$name.log" && break
    for idx in 0 1 2; do
      if ! kill -0 "${pids[$idx]}" 2>/dev/null; then
        echo "make cluster: ${names[$idx]} exited; the end of $out/${names[$idx]}.log:"; tail -n 20 "$out/${names[$idx]}.log"; exit 1
      fi
    done
    sleep 0.1
  done
  if ! grep -q '"msg":"ready to serve client requests"' "$out/$name.log"; then
    # SIGQUIT makes the Go runtime write every goroutine's stack into the log: where it waits.
    idx=$((${name#m} - 1))
    kill -QUIT "${pids[$idx]}" 2>/dev/null || true
    sleep 1
    echo "make cluster: $name not ready after ${ready_seconds}s (goroutine dump in $out/$name.log); the end of its log before the dump:"
    grep '^{' "$out/$name.log" | tail -n 20; exit 1
  fi
done

echo "make cluster: three members ready (logs in $out/m1.log, m2.log, m3.log). Use:"
echo "  etcdctl --endpoints=http://127.0.0.1:$(client_port 1),http://127.0.0.1:$(client_port 2),http://127.0.0.1:$(client_port 3) member list -w table"
echo "Ctrl-C stops all three."
start=$SECONDS
while :; do
  for idx in 0 1 2; do
    if ! kill -0 "${pids[$idx]}" 2>/dev/null; then
      echo "make cluster: ${names[$idx]} exited; the end of $out/${names[$idx]}.log:"; tail -n 20 "$out/${names[$idx]}.log"; exit 1
    fi
  done
  if [[ -n "${CLUSTER_SECONDS:-}" ]] && ((SECONDS - start >= CLUSTER_SECONDS)); then
    echo "make cluster: CLUSTER_SECONDS=$CLUSTER_SECONDS elapsed"
    exit 0
  fi
  sleep 1
done
