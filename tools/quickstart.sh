#!/usr/bin/env bash
# The main job: generate a synthetic COCO-format pose dataset, train the small ESAM top-down model
# on it with `mim train`, test it with `mim test` (COCO AP/AR), and draw a few predictions.
# A few minutes on 2 CPU cores, no downloads. It first installs what is missing
# (tools/ensure_installed.sh: one line per step, nothing when all is there), so it can be the first
# command on a new machine.
#
#   bash tools/quickstart.sh [OUT_DIR]        (default work_dirs/quickstart in the checkout; a
#                                              relative OUT_DIR is taken from where you run it)
#
# Environment: EPOCHS (default: the config's 6), TRAIN_IMAGES (300), VAL_IMAGES (60), SEED (0: the
# data and the training's randomness, so that a run's AP repeats).
set -euo pipefail

CALLER_DIR=$PWD
cd "$(dirname "$0")/.."
. tools/ensure_installed.sh
OUT=${1:-work_dirs/quickstart}
if [[ -n "${1:-}" && "$OUT" != /* ]]; then
    OUT="$CALLER_DIR/$OUT"  # the folder the user named, not one inside the checkout
fi
# Everything below writes under OUT: say so clearly when it cannot be written (a read-only
# checkout for the default, a file in the way), before any step starts.
if [[ -e "$OUT" && ! -d "$OUT" ]]; then
    why="x: it is a file, not a folder"
fi
if [[ -n "${why:-}" ]] || ! why=$(mkdir -p "$OUT" 2>&1) \
        || ! why=$(mktemp "$OUT/.write_test.XXXXXX" 2>&1); then
    [[ "$OUT" == /* ]] && shown=$OUT || shown="$PWD/$OUT"
    echo "quickstart: cannot write to the output folder $shown (${why##*: })." >&2
    echo "Choose a folder you can write to as the first argument, e.g." \
         "bash tools/quickstart.sh /tmp/quickstart" >&2
    exit 1
fi
rm -f "$why"
DATA=$OUT/data
CONFIG=configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py
# One compute thread: the data-loading worker takes the other core, and on a shared machine
# several OpenMP threads per process wait for each other at every op (measured 3-10x slower).
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
# mmengine and mim import the deprecated pkg_resources; its warning says nothing about this run.
export PYTHONWARNINGS=${PYTHONWARNINGS:-"ignore:pkg_resources is deprecated:UserWarning"}

DATA_OPTS=(train_dataloader.dataset.data_root="$DATA/" val_dataloader.dataset.data_root="$DATA/"
           test_dataloader.dataset.data_root="$DATA/")
EXTRA_OPTS=(randomness.seed="${SEED:-0}")
if [[ -n "${EPOCHS:-}" ]]; then
    EXTRA_OPTS+=(train_cfg.max_epochs="$EPOCHS" param_scheduler.1.end="$EPOCHS"
                 param_scheduler.1.T_max="$EPOCHS")
fi

# Each step's full output (environment and config dumps, warnings) goes to a log file; the
# terminal gets the step names, the validation lines and, if a step fails, its log's tail.
run_logged() {
    local log=$1; shift
    if ! "$@" > "$log" 2>&1; then
        echo "FAILED: $* -- last lines of $log:"
        tail -n 40 "$log"
        exit 1
    fi
}

start=$SECONDS
echo "== 1/4 generating synthetic COCO-format data in $DATA"
run_logged "$OUT/data.log" "$PY" tools/synthetic_dataset.py "$DATA" --dataset coco \
    --train-images "${TRAIN_IMAGES:-300}" --val-images "${VAL_IMAGES:-60}" --seed "${SEED:-0}"
sed 's/^/   /' "$OUT/data.log"

echo "== 2/4 training $CONFIG (mim train; log: $OUT/train.log)"
run_logged "$OUT/train.log" "$PY" -m mim train mmpose "$CONFIG" --work-dir "$OUT/train" \
    --cfg-options "${DATA_OPTS[@]}" "${EXTRA_OPTS[@]}"
grep -o 'Epoch(val) \[[0-9]*\]\[[0-9/]*\] *coco/AP: [0-9.]*' "$OUT/train.log" | sed 's/^/   /' || true
CKPT=$(ls -t "$OUT"/train/epoch_*.pth | head -n 1)

echo "== 3/4 testing $CKPT (mim test; log: $OUT/test.log)"
run_logged "$OUT/test.log" "$PY" -m mim test mmpose "$CONFIG" --checkpoint "$CKPT" --work-dir "$OUT/test" \
    --out "$OUT/test/metrics.json" --cfg-options "${DATA_OPTS[@]}"

echo "== 4/4 drawing predictions"
run_logged "$OUT/vis.log" "$PY" tools/visualize_predictions.py "$CONFIG" "$CKPT" \
    "$DATA/annotations/val.json" "$DATA/images" "$OUT/vis" --num 6

"$PY" - "$OUT/test/metrics.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
print('COCO keypoint metrics on the synthetic val set:')
for k in ('AP', 'AP .5', 'AP .75', 'AR', 'AR .5', 'AR .75'):
    print(f'  {k:7s} {m["coco/" + k]:.3f}')
EOF
echo "metrics:     $OUT/test/metrics.json"
echo "logs:        $OUT/data.log, $OUT/train.log, $OUT/test.log, $OUT/vis.log (mmengine's own: $OUT/train/<timestamp>/)"
echo "checkpoint:  $CKPT"
echo "predictions: $OUT/vis/ ($(ls "$OUT/vis" | wc -l) images)"
echo "total time:  $((SECONDS - start)) s"
