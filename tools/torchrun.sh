#!/usr/bin/env bash
# torchrun wrapper shared by dist_train.sh and dist_test.sh:
#   tools/torchrun.sh NPROC_PER_NODE SCRIPT.py [args...]
# Environment: NNODES (1), NODE_RANK (0), MASTER_ADDR (127.0.0.1), PORT (29500),
# PYTHON (python). On CPU (gloo) NPROC_PER_NODE is the number of processes per node.
set -euo pipefail
NPROC=$1
SCRIPT=$2
ROOT="$(cd "$(dirname "$0")/.." && pwd)"

exec "${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" "$ROOT/tools/$SCRIPT" "${@:3}"
