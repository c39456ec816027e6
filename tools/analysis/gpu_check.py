"""GPU check: CUDA parity, training speed and memory (fp32/AMP), inference latency against the
stock models, batched bottom-up prediction and a one-GPU NCCL launch; one JSON and a table.

Usage::

    python tools/analysis/gpu_check.py --out gpu_check.json              # on a GPU
    python tools/analysis/gpu_check.py --device cpu --quick --out r.json # CI's quick mode
    python tools/analysis/gpu_check.py --from-json gpu_check.json --markdown gpu.md  # render only

The JSON is rewritten after every section, so a run stopped by a time limit keeps what it
measured. See ``mmpose_attn/analysis/gpu_check.py`` for what each section measures.
"""
import argparse
import json
import os

import torch

from mmpose_attn.analysis.gpu_check import format_table, run_check


def _write_json(res: dict, path: str) -> None:
    tmp = f'{path}.tmp'
    with open(tmp, 'w') as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, path)  # never a half-written file


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--quick', action='store_true', help='tiny inputs, few iterations')
    p.add_argument('--out', default='gpu_check.json', help='JSON file to write')
    p.add_argument('--from-json', metavar='JSON', help='render the result of an earlier run; '
                   'runs nothing')
    p.add_argument('--markdown', metavar='FILE', help='also write the tables as Markdown')
    args = p.parse_args(argv)
    if args.from_json:
        with open(args.from_json) as f:
            res = json.load(f)
    else:
        res = run_check(args.device, args.quick, on_section=lambda r: _write_json(r, args.out))
    print(format_table(res))
    if args.markdown:
        with open(args.markdown, 'w') as f:
            f.write(format_table(res, markdown=True) + '\n')
    return res


if __name__ == '__main__':
    main()
