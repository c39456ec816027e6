# Sourced (`. tools/ensure_installed.sh`) by tools/quickstart.sh and tools/run_tests.sh before their
# job: picks the Python environment, asks tools/install/install_check.py (one interpreter
# start) what is missing there and, if anything is, runs tools/install.sh with one line per step
# (pip's output in work_dirs/install.log). Says nothing when everything is there. Leaves PY = the
# Python to use, its bin/ first on PATH (tests call `mim`).
#
# The environment: $PYTHON if set; else the active venv/conda env; else the checkout's .venv/ if an
# earlier run made one; else python3 when it already has everything; else a new .venv/ made with
# python3 (--system-site-packages: what already works in python3 is reused, the rest goes in .venv/).
# MMPOSE_ATTN_NO_INSTALL=1: only check; fail with the missing list instead of installing.

_ENSURE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

_ensure_fail() {
  echo "[setup] $*" >&2
  exit 1
}

# _ensure_missing PYTHON -> prints what is missing (nothing when all is there); 1 when anything is
_ensure_missing() {
  local out rc=0
  local check="$_ENSURE_ROOT/tools/install/install_check.py"
  out="$("$1" "$check" 2>/dev/null)" || rc=$?
  if [ "$rc" -gt 1 ]; then out="check: failed to run ($1 $check)"; fi
  [ -n "$out" ] && printf '%s\n' "$out"
  [ "$rc" = 0 ]
}

_ensure_use_bin() { case ":$PATH:" in *":$1:"*) ;; *) export PATH="$1:$PATH" ;; esac; }

PY=""
_ENSURE_MISSING=""
_ENSURE_CHECKED=0
if [ -n "${PYTHON:-}" ]; then
  PY="$PYTHON"
elif [ -n "${VIRTUAL_ENV:-}" ]; then
  PY="$VIRTUAL_ENV/bin/python"
elif [ -n "${CONDA_PREFIX:-}" ]; then
  PY="$CONDA_PREFIX/bin/python"
elif [ -x "$_ENSURE_ROOT/.venv/bin/python" ]; then
  PY="$_ENSURE_ROOT/.venv/bin/python"
else
  command -v python3 >/dev/null ||
    _ensure_fail "no python3 on PATH: install Python 3.11 or 3.12 (or set PYTHON=/path/to/python)"
  if _ENSURE_MISSING="$(_ensure_missing python3)"; then
    PY="$(command -v python3)"
    _ENSURE_CHECKED=1
  elif [ "${MMPOSE_ATTN_NO_INSTALL:-0}" = 1 ]; then
    PY="$(command -v python3)"  # only the report below: no .venv is made
  else
    PY="$_ENSURE_ROOT/.venv/bin/python"
    echo "[setup] no active venv and python3 lacks the stack: making $_ENSURE_ROOT/.venv ($(python3 -V 2>&1))"
    python3 -m venv --system-site-packages "$_ENSURE_ROOT/.venv" >/dev/null ||
      _ensure_fail "python3 -m venv failed: install the venv module (Debian/Ubuntu: apt install python3-venv), or activate a venv of your own and re-run"
    _ENSURE_MISSING=""  # python3's report; .venv/ is checked below
  fi
fi
[ -x "$PY" ] || PY="$(command -v "$PY" || true)"
[ -n "$PY" ] && [ -x "$PY" ] || _ensure_fail "no Python at ${PYTHON:-${VIRTUAL_ENV:-${CONDA_PREFIX:-python3}}}"
_ensure_use_bin "$(dirname "$PY")"

if [ "$_ENSURE_CHECKED" = 1 ]; then
  _ENSURE_MISSING=""
elif [ -n "$_ENSURE_MISSING" ]; then
  :  # python3's report, with MMPOSE_ATTN_NO_INSTALL=1
elif _ENSURE_MISSING="$(_ensure_missing "$PY")"; then
  _ENSURE_MISSING=""
else
  [ -n "$_ENSURE_MISSING" ] || _ENSURE_MISSING="(unknown)"
fi
if [ -n "$_ENSURE_MISSING" ]; then
  if [ "${MMPOSE_ATTN_NO_INSTALL:-0}" = 1 ]; then
    printf '[setup] missing in %s:\n%s\n' "$PY" "$(printf '%s\n' "$_ENSURE_MISSING" | sed 's/^/  /')" >&2
    _ensure_fail "MMPOSE_ATTN_NO_INSTALL=1, so nothing was installed: run bash tools/install.sh"
  fi
  echo "[setup] installing what $PY lacks ($(printf '%s\n' "$_ENSURE_MISSING" | cut -d: -f1 | paste -sd, | sed 's/,/, /g')) with tools/install.sh; pip's output: work_dirs/install.log"
  PYTHON="$PY" MMPOSE_ATTN_INSTALL_LOG="$_ENSURE_ROOT/work_dirs/install.log" \
    bash "$_ENSURE_ROOT/tools/install.sh" || exit 1
  if _ENSURE_MISSING="$(_ensure_missing "$PY")"; then
    echo "[setup] installed; from now on this step is silent"
  else
    printf '[setup] still missing after tools/install.sh:\n%s\n' "$_ENSURE_MISSING" >&2
    _ensure_fail "see work_dirs/install.log"
  fi
fi
unset _ENSURE_MISSING _ENSURE_CHECKED
