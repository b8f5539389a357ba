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

# Each phase's wall time, printed as it ends and again as one summary line at the end
# (docs/measurements.md quotes these lines).
PHASES=()
phase_start() { phase_name="$1"; phase_t0=$SECONDS; log "phase '$1' ..."; }
phase_end() {
    local took=$((SECONDS - phase_t0))
    PHASES+=("$phase_name $((took / 60))m$((took % 60))s")
    log "phase '$phase_name' took $((took / 60)) min $((took % 60)) s"
}

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    log "error: interpreter '$PYTHON' not found; install Python 3.11 or set PYTHON=/path/to/python3.11"
    exit 1
fi

# The stamp records the hash of everything that defines the environment, so editing
# requirements.txt, setup.py or this script re-runs the install and nothing else does.
want_hash="$(cat "$REQS" "$TORCH_REQS" "$ROOT/requirements-modelopt.txt" "$ROOT/setup.py" \
    "$ROOT/tools/setup_env.sh" \
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
tmp="$(mktemp -d "${TMPDIR:-/tmp}/trtvit-setup.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
phase_start download
# torch's wheel alone (about 0.9 GB) by hash; its CUDA runtime libraries come with its
# requirements in the next phase
"${PIP[@]}" download -q --no-deps --require-hashes -d "$tmp/torch" -r "$TORCH_REQS"
phase_end
phase_start torch
"${PIP[@]}" install -q --no-deps --no-index "$tmp"/torch/torch-*.whl
"${PIP[@]}" install -q "$(grep -E '^torch==' "$REQS")" "$(grep -E '^torchvision==' "$REQS")" \
    "$(grep -E '^numpy==' "$REQS")"
if ! "$VENV/bin/python" -c 'import torchvision.ops' 2>/dev/null; then
    log "error: torchvision does not load beside torch $("$VENV/bin/python" -c \
        'import torch; print(torch.__version__)'): they must come from the same index"
    exit 1
fi
phase_end

read -r torch_ver py_tag <<<"$("$VENV/bin/python" -c \
    'import sys, torch; print(torch.__version__, f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
key="mmcv-${MMCV_VERSION}_torch-${torch_ver}_${py_tag}_$(uname -m)"
wheel_dir="$CACHE/$key"

if ! compgen -G "$wheel_dir/mmcv-${MMCV_VERSION}-*.whl" >/dev/null; then
    log "no cached mmcv wheel for $key: building from source (docs/measurements.md has its time)"
    phase_start "mmcv build"
    build="$tmp/mmcv"
    mkdir -p "$build"
    "$PYTHON" -m venv "$build/venv"
    # ninja: torch's BuildExtension compiles MAX_JOBS files at a time only through ninja
    # (without it, one file after another); pinned here rather than taken from the system
    "$build/venv/bin/python" -m pip --disable-pip-version-check install -q "setuptools<70" wheel \
        ninja==1.13.0
    main_site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    build_site="$("$build/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$main_site" >"$build_site/zz-project-venv.pth"
    # mmcv's own build-time imports (it reads its version and requirements at setup time).
    "${PIP[@]}" install -q "$(grep -E '^mmengine==' "$REQS")" \
        "$(grep -E '^opencv-python==' "$REQS")"
    # --no-cache-dir: compiled against this torch, never a wheel pip kept from a build
    # against another one
    PATH="$build/venv/bin:$PATH" MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
        "$build/venv/bin/python" -m pip --disable-pip-version-check wheel -q \
        --no-deps --no-build-isolation --no-cache-dir --no-binary mmcv "mmcv==${MMCV_VERSION}" \
        -w "$build/wheels"
    mkdir -p "$CACHE"
    # Publish atomically: a killed build never leaves a half-written cache entry.
    mv "$build/wheels" "$build/$key"
    rm -rf "$wheel_dir"
    mv "$build/$key" "$wheel_dir"
    phase_end
fi

phase_start rest

log "installing pinned requirements + cached mmcv wheel"
"${PIP[@]}" install -q -r "$REQS" "$wheel_dir"/mmcv-"${MMCV_VERSION}"-*.whl
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"
"$VENV/bin/python" -c 'import mmcv.ops, mmdet, mmseg, mmpretrain.models, trtvit_dense' 
echo "$want_hash" >"$STAMP"
phase_end
log "environment ready: $VENV (phases: ${PHASES[*]}; total $((SECONDS / 60)) min $((SECONDS % 60)) s)"
