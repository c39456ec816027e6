#!/usr/bin/env bash
# The GPU check on a GPU machine, writing to $OUT. Where that machine has no package index, put an
# offline installer of the stack at .kit/install.sh in the checkout (echo /.kit/ >> .git/info/exclude):
# this script sources it first. Run from the checkout root on the GPU machine:
#   bash tools/analysis_tools/run_gpu_check_on_device.sh
# GPU_CHECK_ARGS adds arguments (e.g. "--device cpu --quick" to try this script on a CPU).
set -uo pipefail
OUT="${OUT:-$PWD/gpu_check_out}"
mkdir -p "$OUT"
if [ -f .kit/install.sh ]; then
  # shellcheck disable=SC1091
  source .kit/install.sh > "$OUT/kit_install.log" 2>&1 || { echo "kit install failed, see $OUT/kit_install.log"; exit 1; }
fi
PY="$(command -v python3 || command -v python)"
# the kit's own final check does not stop a sourced script: check the stack here
"$PY" -c 'import mmcv._ext, mmpose.apis, mmdet.apis, mmpose_attn' >> "$OUT/kit_install.log" 2>&1 \
  || { echo "the OpenMMLab stack does not import, see $OUT/kit_install.log"; exit 1; }
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
# 8 minutes for the check itself; the JSON is rewritten after each section, the table is in the log
timeout "${GPU_CHECK_TIMEOUT:-480}" "$PY" tools/analysis_tools/gpu_check.py --out "$OUT/gpu_check.json" \
  --markdown "$OUT/gpu_check.md" ${GPU_CHECK_ARGS:-} 2>&1 | tee "$OUT/gpu_check.log"
rc=${PIPESTATUS[0]}
echo "gpu_check rc=$rc; results in $OUT"
exit "$rc"
