"""mmpose's tools/train.py with mmpose_attn imported (same command-line interface).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] \
        [--cfg-options k=v ...] [--launcher pytorch|slurm]

Minimal wrapper: it runs the main() of the train.py bundled with the installed mmpose, so its
options are exactly mmpose's, with the config's ``runner_type`` honoured
(mmpose_attn/compat/mmpose_tools_runner_type.py). Configs import mmpose_attn themselves
(custom_imports); importing it here as well makes the plugin available to configs that do not.
"""
from mmpose_attn.compat.mmpose_tools_runner_type import run_mmpose_tool

if __name__ == '__main__':
    run_mmpose_tool('train')
