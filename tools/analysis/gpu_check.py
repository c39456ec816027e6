"""GPU check: CUDA parity, training speed and memory (fp32/AMP), inference latency against the
stock models, batched bottom-up prediction and a one-GPU NCCL launch; one JSON and a table.

Usage::

    python tools/analysis/gpu_check.py --out gpu_check.json              # on a GPU
    python tools/analysis/gpu_check.py --device cpu --quick --out r.json # CI's quick mode

See ``mmpose_attn/analysis/gpu_check.py`` for what each section measures.
"""
import argparse
import json

import torch

from mmpose_attn.analysis.gpu_check import format_table, run_check


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--quick', action='store_true', help='tiny inputs, few iterations')
    p.add_argument('--out', default='gpu_check.json', help='JSON file to write')
    args = p.parse_args(argv)
    res = run_check(args.device, args.quick)
    with open(args.out, 'w') as f:
        json.dump(res, f, indent=1)
    print(format_table(res))
    return res


if __name__ == '__main__':
    main()
