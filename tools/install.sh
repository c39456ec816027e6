#!/usr/bin/env bash
# Installs the pinned OpenMMLab stack for mmpose_attn into the ACTIVE Python environment, then the
# project itself in editable mode. Idempotent: steps whose result is already importable are skipped.
#
#   bash tools/install.sh                 # what the README says
#   PYTHON=/path/to/python bash tools/install.sh
#   PIP_FIND_LINKS=/dir/with/wheels bash tools/install.sh   # e.g. a prebuilt mmcv wheel
#   MMPOSE_ATTN_INSTALL_LOG=FILE bash tools/install.sh      # one line per step; pip's output to FILE
#
# Why the order and the flags (all measured on torch 2.14 + numpy 2 + setuptools 80):
#  - the CPU-only torch wheel has no matching torchvision, and mmpose's visualizer imports torchvision,
#    so the default is the torch 2.14.1 + torchvision 0.29.1 pair (CUDA builds; they run on CPU too);
#  - mmcv 2.1.0 ships only an sdist whose setup.py forces -std=c++17, but torch >= 2.12 headers need
#    C++20; it imports pkg_resources (setuptools < 81); it must build against the installed torch
#    (--no-build-isolation) and pip's wheel cache may hand back a wheel built for another torch
#    (--no-cache-dir);
#  - the OpenMMLab packages go in with --no-deps: mmpose requires chumpy (does not install) and
#    opencv-python (GUI build); their real deps are requirements/runtime.txt;
#  - the xtcocotools wheel is compiled against numpy 1 and breaks under numpy 2: build it from source.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-python3}"
PIP=("$PY" -m pip)
REQ="$ROOT/requirements"
T0=$(date +%s)

# With MMPOSE_ATTN_INSTALL_LOG (tools/ensure_installed.sh sets it) the terminal gets one line per
# step (and the mmcv build's progress); pip's output and the details go to that file.
LOG="${MMPOSE_ATTN_INSTALL_LOG:-}"
if [ -n "$LOG" ]; then
  mkdir -p "$(dirname "$LOG")"
  : > "$LOG"
fi
step() {
  local line
  line="$(printf '[install %4ss] %s' "$(( $(date +%s) - T0 ))" "$*")"
  if [ -n "$LOG" ]; then echo "$line"; echo "$line" >> "$LOG"; else printf '\n%s\n' "$line"; fi
}
# note TEXT: a detail line (to the log when there is one)
note() { if [ -n "$LOG" ]; then echo "  $*" >> "$LOG"; else echo "  $*"; fi; }
# quiet CMD...: runs CMD with its output in the log when there is one
quiet() { if [ -n "$LOG" ]; then "$@" >> "$LOG" 2>&1; else "$@"; fi; }
# quiet_try CMD...: like quiet, but with no log its error output is dropped (an expected failure)
quiet_try() { if [ -n "$LOG" ]; then "$@" >> "$LOG" 2>&1; else "$@" 2>/dev/null; fi; }
# with_progress CMD...: a long build; with a log, its output goes there and a line a minute says
# how long it has run (without one, pip's own progress shows)
with_progress() {
  if [ -z "$LOG" ]; then "$@"; return; fi
  local t0=$SECONDS next=60 pid rc=0
  "$@" >> "$LOG" 2>&1 &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    sleep 2
    if (( SECONDS - t0 >= next )); then
      echo "  ... still building: $(( (SECONDS - t0) / 60 )) min (output: $LOG)"
      next=$(( next + 60 ))
    fi
  done
  wait "$pid" || rc=$?
  return "$rc"
}
fail() {
  if [ -n "$LOG" ]; then
    printf '[install] last lines of %s:\n' "$LOG" >&2
    tail -n 30 "$LOG" | sed 's/^/  | /' >&2
  fi
  printf '\n[install] FAILED at step: %s\n[install] likely fix: %s\n' "$1" "$2" >&2
  exit 1
}
# pin NAME FILE -> the "NAME==X" line of a requirements file
pin() { grep -E "^$1==" "$2" | head -n1; }
# has_version DIST VERSION -> 0 when that exact distribution version is installed
has_version() {
  "$PY" - "$1" "$2" <<'EOF' 2>/dev/null
import sys, importlib.metadata as m
try:
    sys.exit(0 if m.version(sys.argv[1]) == sys.argv[2] else 1)
except m.PackageNotFoundError:
    sys.exit(1)
EOF
}
dist_version() { "$PY" -c "import importlib.metadata as m; print(m.version('$1'))"; }
# all_installed FILE -> 0 when every requirement line of FILE is satisfied (packaging's specifiers)
all_installed() {
  "$PY" - "$1" <<'EOF' 2>/dev/null
import sys, importlib.metadata as m
from packaging.requirements import Requirement
for line in open(sys.argv[1]):
    line = line.split('#')[0].strip()
    if not line:
        continue
    r = Requirement(line)
    try:
        v = m.version(r.name)
    except m.PackageNotFoundError:
        sys.exit(1)
    if r.specifier and not r.specifier.contains(v, prereleases=True):
        sys.exit(1)
EOF
}

step "python: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
"$PY" -c 'import sys; assert sys.version_info >= (3, 9), sys.version' ||
  fail "python version" "use Python 3.9-3.12 (tested: 3.11)"

step "build tools (setuptools >=77,<81, wheel, cython, ninja)"
if ! all_installed "$REQ/build.txt"; then
  quiet "${PIP[@]}" install -r "$REQ/build.txt" ||
    fail "build tools" "check that pip can reach your package index"
fi

MMCV_PIN="$(pin mmcv "$REQ/mmcv.txt")"
# nvcc on PATH or under CUDA_HOME: with a visible GPU, mmcv gets its CUDA ops (see the mmcv step).
MMPOSE_ATTN_NVCC="$(command -v nvcc || { [ -x "${CUDA_HOME:-/nonexistent}/bin/nvcc" ] && echo "$CUDA_HOME/bin/nvcc"; } || true)"
export MMPOSE_ATTN_NVCC
MMCV_VER="${MMCV_PIN#mmcv==}"
# One interpreter start probes every import check (importing torch dominates a no-op re-run);
# tools/install/install_check.py is what tools/ensure_installed.sh asks before calling this.
PROBE="$("$PY" "$ROOT/tools/install/install_check.py" --probe 2>/dev/null || true)"
probe_ok() { [[ " $PROBE " == *" $1 "* ]]; }
TORCH_CHANGED=0

step "torch + torchvision"
if probe_ok torch; then
  note "keeping the importable pair: torch $(dist_version torch), torchvision $(dist_version torchvision)"
else
  TORCH_CHANGED=1
  echo "  no working torch + torchvision pair; installing $(grep -v '^#' "$REQ/torch.txt" | xargs) (~2 min from a local mirror, several GB)"
  quiet "${PIP[@]}" install -r "$REQ/torch.txt" ||
    fail "torch" "install a matching torch + torchvision pair yourself (https://pytorch.org) and re-run"
fi

step "runtime dependencies (requirements/runtime.txt)"
if ! all_installed "$REQ/runtime.txt"; then
  quiet "${PIP[@]}" install -r "$REQ/runtime.txt" ||
    fail "runtime dependencies" "check that pip can reach your package index"
fi

step "xtcocotools (built from source: its wheel breaks under numpy 2)"
if ! all_installed "$REQ/source.txt" || ! probe_ok xtcocotools; then
  "${PIP[@]}" uninstall -y xtcocotools >/dev/null 2>&1 || true
  quiet "${PIP[@]}" install --no-cache-dir --no-build-isolation --no-binary xtcocotools -r "$REQ/source.txt" ||
    fail "xtcocotools" "it needs a C compiler, the Python headers (python3-dev) and cython"
fi

step "OpenMMLab packages with --no-deps (requirements/mminstall.txt)"
if ! all_installed "$REQ/mminstall.txt"; then
  quiet "${PIP[@]}" install --no-deps -r "$REQ/mminstall.txt" ||
    fail "OpenMMLab packages" "check that pip can reach your package index"
fi

mmcv_ok() {
  has_version mmcv "$MMCV_VER" &&
    "$PY" - <<'EOF' 2>/dev/null
import os, sys
import mmcv._ext
from mmcv.ops import DeformConv2d, get_compiling_cuda_version
import torch
# with a GPU and nvcc, an mmcv without CUDA ops does not count (mmcv's kernels are the fast path)
sys.exit(1 if torch.cuda.is_available() and os.environ.get('MMPOSE_ATTN_NVCC')
         and get_compiling_cuda_version() == 'not available' else 0)
EOF
}
step "$MMCV_PIN with compiled ops"
# A torch installed by this run invalidates the probe: mmcv's ops must import against the new torch.
if { [ "$TORCH_CHANGED" = 0 ] && probe_ok mmcv; } || { [ "$TORCH_CHANGED" = 1 ] && mmcv_ok; }; then
  note "keeping the installed mmcv: mmcv._ext imports against this torch"
else
  "${PIP[@]}" uninstall -y mmcv mmcv-lite >/dev/null 2>&1 || true
  note "trying a prebuilt wheel from your index / PIP_FIND_LINKS"
  if quiet_try "${PIP[@]}" install --no-deps --no-cache-dir --only-binary=:all: "$MMCV_PIN" && mmcv_ok; then
    echo "  a prebuilt mmcv wheel works with this torch"
  else
    "${PIP[@]}" uninstall -y mmcv >/dev/null 2>&1 || true
    echo "  no usable wheel: building $MMCV_PIN from the sdist with ops, patched to C++20."
    echo "  This takes ~14 min on 2 cores (less with more: MAX_JOBS=$(nproc))."
    SRC="$(mktemp -d)"
    trap 'rm -rf "$SRC"' EXIT
    quiet "${PIP[@]}" download --no-deps --no-binary :all: --no-cache-dir -d "$SRC" "$MMCV_PIN" ||
      fail "mmcv download" "check that pip can reach PyPI (mmcv's sdist)"
    tar -xzf "$SRC"/mmcv-*.tar.gz -C "$SRC"
    MMCV_SRC="$(find "$SRC" -maxdepth 1 -type d -name 'mmcv-*' | head -n1)"
    sed -i 's/-std=c++17/-std=c++20/g' "$MMCV_SRC/setup.py"
    grep -q -- '-std=c++20' "$MMCV_SRC/setup.py" ||
      fail "mmcv patch" "mmcv's setup.py no longer contains -std=c++17; check the pinned version"
    # GPU + nvcc: CUDA ops for this GPU's architecture only, pip's CUDA headers on CPATH
    # (tools/install/cuda_build.py; TORCH_CUDA_ARCH_LIST / MAX_JOBS you set are kept).
    CUDA_ENV="$("$PY" "$ROOT/tools/install/cuda_build.py")" ||
      fail "mmcv CUDA setup" "torch failed to report the GPU; see the error above"
    if [ -n "$CUDA_ENV" ]; then
      eval "$CUDA_ENV"
      echo "  building with CUDA ops: TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS nvcc=$MMPOSE_ATTN_NVCC"
      echo "  CPATH=${CPATH:-} (pip's CUDA headers, for cusparse.h)"
    fi
    MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      with_progress "${PIP[@]}" install --no-deps --no-build-isolation --no-cache-dir "$MMCV_SRC" ||
      fail "mmcv build" "needs g++ with C++20 and the Python headers (with CUDA: nvcc matching torch's CUDA major version); see the compiler error above"
    mmcv_ok || fail "mmcv check" "mmcv built but 'import mmcv._ext' fails: rebuild against the installed torch"
  fi
fi

step "test tools (requirements/tests.txt)"
if ! all_installed "$REQ/tests.txt"; then
  quiet "${PIP[@]}" install -r "$REQ/tests.txt" || fail "test tools" "check that pip can reach your package index"
fi

step "optional extras (requirements/optional.txt: onnx + onnxruntime for the ONNX export tool)"
if [ "${MMPOSE_ATTN_SKIP_OPTIONAL:-0}" = 1 ]; then
  note "skipped (MMPOSE_ATTN_SKIP_OPTIONAL=1)"
elif ! all_installed "$REQ/optional.txt"; then
  # Optional: a failure here only disables tools/deployment/export_onnx.py (its tests then skip).
  quiet "${PIP[@]}" install -r "$REQ/optional.txt" ||
    echo "  WARNING: optional extras failed to install; ONNX export will be unavailable"
fi

step "mmpose-attn-runtime (editable, runtime/: numpy + OpenCV + ONNX Runtime only)"
if ! probe_ok mmpose_attn_runtime; then
  quiet "${PIP[@]}" install --no-build-isolation -e "$ROOT/runtime" ||
    fail "mmpose-attn-runtime" "see the pip error above (it needs numpy, opencv-python-headless, onnxruntime)"
fi

step "mmpose_attn (editable)"
if ! probe_ok mmpose_attn; then
  quiet "${PIP[@]}" install --no-deps --no-build-isolation -e "$ROOT" ||
    fail "mmpose_attn" "see the pip error above"
fi

step "self-check"
quiet "$PY" - "$ROOT" <<'EOF' || fail "self-check" "an import failed: re-run this script and read the first failing step"
import torch, torchvision, numpy, mmcv, mmengine, mmdet, mmpose
import mmcv._ext
from mmcv.ops import DeformConv2d
import mmpose.apis, mmdet.apis
import os, sys
sys.path = [p for p in sys.path if p not in ('', os.getcwd())]  # see the probe
import mmpose_attn
assert os.path.dirname(mmpose_attn.__file__) == os.path.join(sys.argv[1], 'mmpose_attn'), mmpose_attn.__file__
for name, mod in [('torch', torch), ('torchvision', torchvision), ('numpy', numpy), ('mmcv', mmcv),
                  ('mmengine', mmengine), ('mmdet', mmdet), ('mmpose', mmpose),
                  ('mmpose_attn', mmpose_attn)]:
    print(f'  {name:12s} {mod.__version__}')
print('  cuda available:', torch.cuda.is_available())
EOF
step "done"
