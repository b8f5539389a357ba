#!/usr/bin/env bash
# Create the project virtual environment and install the pinned stack.
#
# mmcv 2.1.0 ships no wheel for torch 2.13, so it is compiled once from the PyPI sdist
# (MMCV_WITH_OPS=1: nms, roi_align, ... as CPU/CUDA ops) and the wheel is cached outside
# the repository, keyed by mmcv, torch, Python and machine, so later installs take seconds.
#
# mmcv's setup.py imports pkg_resources, which setuptools >= 81 no longer has, while torch
# 2.13 requires setuptools >= 77. The build therefore runs in a throw-away "build" venv
# that holds setuptools<70 and sees the project venv's torch/numpy through a .pth file
# appended *after* its own site-packages.
#
# Environment knobs: PYTHON (interpreter, default python3.11), VENV (default ./.venv),
# TRTVIT_WHEEL_CACHE (default ~/.cache/trtvit-dense/wheels).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-python3.11}"
VENV="${VENV:-$ROOT/.venv}"
CACHE="${TRTVIT_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trtvit-dense/wheels}"
MMCV_VERSION="2.1.0"
REQS="$ROOT/requirements.txt"
TORCH_REQS="$ROOT/requirements-torch.txt"
STAMP="$VENV/.trtvit-installed"

log() { printf '[setup_env] %s\n' "$*" >&2; }

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    log "error: interpreter '$PYTHON' not found; install Python 3.11 or set PYTHON=/path/to/python3.11"
    exit 1
fi

# The stamp records the hash of everything that defines the environment, so editing
# requirements.txt, setup.py or this script re-runs the install and nothing else does.
want_hash="$(cat "$REQS" "$TORCH_REQS" "$ROOT/setup.py" "$ROOT/tools/setup_env.sh" \
    | sha256sum | cut -d' ' -f1)"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want_hash" ]]; then
    exit 0
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating $VENV"
    "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)

# torch first, alone and by hash (requirements-torch.txt says why), so everything after
# it resolves against the installed build; then its own requirements, torchvision and
# numpy (torch warns at import when numpy is missing).
"${PIP[@]}" install -q --no-deps --require-hashes -r "$TORCH_REQS"
"${PIP[@]}" install -q "$(grep -E '^torch==' "$REQS")" "$(grep -E '^torchvision==' "$REQS")" \
    "$(grep -E '^numpy==' "$REQS")"
if ! "$VENV/bin/python" -c 'import torchvision.ops' 2>/dev/null; then
    log "error: torchvision does not load beside torch $("$VENV/bin/python" -c \
        'import torch; print(torch.__version__)'): they must come from the same index"
    exit 1
fi

read -r torch_ver py_tag <<<"$("$VENV/bin/python" -c \
    'import sys, torch; print(torch.__version__, f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
key="mmcv-${MMCV_VERSION}_torch-${torch_ver}_${py_tag}_$(uname -m)"
wheel_dir="$CACHE/$key"

if ! compgen -G "$wheel_dir/mmcv-${MMCV_VERSION}-*.whl" >/dev/null; then
    log "no cached mmcv wheel for $key: building from source (about 12 min on 2 cores)"
    build="$(mktemp -d "${TMPDIR:-/tmp}/trtvit-mmcv-build.XXXXXX")"
    trap 'rm -rf "$build"' EXIT
    "$PYTHON" -m venv "$build/venv"
    "$build/venv/bin/python" -m pip --disable-pip-version-check install -q "setuptools<70" wheel
    main_site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    build_site="$("$build/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$main_site" >"$build_site/zz-project-venv.pth"
    # mmcv's own build-time imports (it reads its version and requirements at setup time).
    "${PIP[@]}" install -q "$(grep -E '^mmengine==' "$REQS")" \
        "$(grep -E '^opencv-python==' "$REQS")"
    # --no-cache-dir: compiled against this torch, never a wheel pip kept from a build
    # against another one
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$build/venv/bin/python" -m pip --disable-pip-version-check wheel -q \
        --no-deps --no-build-isolation --no-cache-dir --no-binary mmcv "mmcv==${MMCV_VERSION}" \
        -w "$build/wheels"
    mkdir -p "$CACHE"
    # Publish atomically: a killed build never leaves a half-written cache entry.
    mv "$build/wheels" "$build/$key"
    rm -rf "$wheel_dir"
    mv "$build/$key" "$wheel_dir"
fi

log "installing pinned requirements + cached mmcv wheel"
"${PIP[@]}" install -q -r "$REQS" "$wheel_dir"/mmcv-"${MMCV_VERSION}"-*.whl
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"
"$VENV/bin/python" -c 'import mmcv.ops, mmdet, mmseg, mmpretrain.models, trtvit_dense' 
echo "$want_hash" >"$STAMP"
log "environment ready: $VENV"
