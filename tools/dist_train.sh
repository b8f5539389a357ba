#!/usr/bin/env bash
# Distributed training with torchrun (mmengine DDP), any number of nodes:
#   single node: tools/dist_train.sh CONFIG GPUS [train.py args]
#   multi node:  NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host0 tools/dist_train.sh CONFIG GPUS ...
set -euo pipefail
exec "$(dirname "$0")/torchrun.sh" "$2" train.py "$1" --launcher pytorch "${@:3}"
