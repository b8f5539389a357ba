#!/usr/bin/env bash
# Distributed evaluation with torchrun, any number of nodes (see dist_train.sh):
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
set -euo pipefail
exec "$(dirname "$0")/torchrun.sh" "$3" test.py "$1" "$2" --launcher pytorch "${@:4}"
