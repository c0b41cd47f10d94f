#!/usr/bin/env bash
# Starts a Qdrant cluster of N nodes (default 3) on 127.0.0.1 from a Qdrant binary, and stops it
# on exit (Ctrl-C, or the end of the command given after --). Each node has its own ports and
# its storage under one temporary folder, removed on exit:
#
#   node I (from 0): HTTP 6400+10·I, gRPC 6401+10·I, cluster (p2p) 6402+10·I
#
# Usage:
#   scripts/qdrant-cluster.sh QDRANT_BIN [NODES]                 # runs until Ctrl-C
#   scripts/qdrant-cluster.sh QDRANT_BIN [NODES] -- COMMAND...   # runs COMMAND against it, then stops
#
# COMMAND (and anything else given the folder) finds in the environment
#   DOCENT_QDRANT_URL      the nodes' gRPC URLs, comma-separated (docent's --qdrant-url)
#   DOCENT_QDRANT_CLUSTER  the cluster's folder: node-I/start (starts node I again, on its
#                          storage), node-I/pid, node-I/log, urls
# so a test can stop a node (kill "$(cat node-I/pid)") and start it again (node-I/start).
#
# No Qdrant binary is in the package registries; README "On a Qdrant cluster" says how to build one.
set -euo pipefail

bin="${1:?usage: scripts/qdrant-cluster.sh QDRANT_BIN [NODES] [-- COMMAND...]}"
shift
nodes=3
if [[ $# -gt 0 && "$1" != "--" ]]; then
  nodes="$1"
  shift
fi
[[ $# -gt 0 && "$1" == "--" ]] && shift
[[ -x "$bin" ]] || { echo "qdrant-cluster: $bin is not an executable Qdrant binary" >&2; exit 2; }
[[ "$nodes" =~ ^[1-9]$ ]] || { echo "qdrant-cluster: NODES must be 1 to 9" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

dir="$(mktemp -d "${TMPDIR:-/tmp}/qdrant-cluster.XXXXXX")"
stop() {
  local pids=()
  for pid_file in "$dir"/node-*/pid; do
    [[ -f "$pid_file" ]] && pids+=("$(cat "$pid_file")")
  done
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # The nodes are not this shell's children (each node's start script launched it): wait for
  # them by their pids, so their ports are free when this script returns.
  for _ in $(seq 1 300); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

port() { echo $((6400 + 10 * $1 + $2)); }

# Waits until node $1 answers on its HTTP port (and its cluster has a leader).
ready() {
  local http
  http="$(port "$1" 0)"
  for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$http/readyz" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.5
  done
  echo "qdrant-cluster: node $1 did not come up; its log: $dir/node-$1/log" >&2
  tail -20 "$dir/node-$1/log" >&2
  exit 1
}

urls=()
for ((i = 0; i < nodes; i++)); do
  if curl -s -o /dev/null "http://127.0.0.1:$(port "$i" 0)/" 2>/dev/null; then
    echo "qdrant-cluster: port $(port "$i" 0) already answers (another cluster still running?)" >&2
    exit 1
  fi
  node="$dir/node-$i"
  mkdir -p "$node/storage" "$node/snapshots"
  join=""
  if ((i > 0)); then
    join="--bootstrap http://127.0.0.1:$(port 0 2)"
  fi
  # The node's own start script: the test runs it again to restart a node on its storage.
  cat >"$node/start" <<EOF
#!/usr/bin/env bash
cd "$node"
QDRANT__SERVICE__HOST=127.0.0.1 \\
QDRANT__SERVICE__HTTP_PORT=$(port "$i" 0) \\
QDRANT__SERVICE__GRPC_PORT=$(port "$i" 1) \\
QDRANT__CLUSTER__ENABLED=true \\
QDRANT__CLUSTER__P2P__PORT=$(port "$i" 2) \\
QDRANT__STORAGE__STORAGE_PATH="$node/storage" \\
QDRANT__STORAGE__SNAPSHOTS_PATH="$node/snapshots" \\
QDRANT__TELEMETRY_DISABLED=true \\
  "$bin" --uri http://127.0.0.1:$(port "$i" 2) $join >>"$node/log" 2>&1 &
echo \$! >"$node/pid"
EOF
  chmod +x "$node/start"
  "$node/start"
  ready "$i"
  urls+=("http://127.0.0.1:$(port "$i" 1)")
done

DOCENT_QDRANT_URL="$(IFS=,; echo "${urls[*]}")"
export DOCENT_QDRANT_URL DOCENT_QDRANT_CLUSTER="$dir"
echo "$DOCENT_QDRANT_URL" >"$dir/urls"
echo "qdrant-cluster: $nodes nodes up in $dir"
echo "  DOCENT_QDRANT_URL=$DOCENT_QDRANT_URL"
echo "  DOCENT_QDRANT_CLUSTER=$dir"

if [[ $# -gt 0 ]]; then
  "$@"
else
  echo "qdrant-cluster: Ctrl-C stops the nodes and removes their storage"
  while true; do sleep 3600; done
fi
