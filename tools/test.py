"""mmpose's tools/test.py with mmpose_attn imported (same command-line interface).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--cfg-options k=v ...] [--launcher pytorch|slurm]

Minimal wrapper: it runs the test.py bundled with the installed mmpose, so its options are exactly
mmpose's. Configs import mmpose_attn themselves (custom_imports); importing it here as well makes
the plugin available to configs that do not.
"""
import os.path as osp
import runpy

import mmpose

import mmpose_attn  # noqa: F401

if __name__ == '__main__':
    runpy.run_path(osp.join(osp.dirname(mmpose.__file__), '.mim', 'tools', 'test.py'), run_name='__main__')
