#!/usr/bin/env bash
# Distributed training with torchrun (one process per GPU; on a machine without CUDA, CPU processes
# over gloo -- see mmpose_attn/compat/cpu_distributed.py).
#   bash tools/dist_train.sh CONFIG NUM_PROCS [train.py args, e.g. --work-dir DIR --resume]
# Multi-node: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host0 PORT=29500 bash tools/dist_train.sh ...
# PYTHON=/path/to/python picks the interpreter (default: the python on PATH).
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG NUM_PROCS [train.py args]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":${PYTHONPATH:-} \
"${PYTHON:-python}" -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/train.py" \
    "$CONFIG" \
    --launcher pytorch "${@:3}"
