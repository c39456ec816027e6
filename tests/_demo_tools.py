"""What the inference tests share: the main configs and the demo CLIs, run in this process."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ESAM = str(REPO / 'configs/esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py')
SAMKR = str(REPO / 'configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py')

# 64 px (resized to 96-128 x 64) keeps HRNet-W32 cheap on CPU
BOTTOMUP_FAST_OPTIONS = {
    'model.test_cfg.flip_test': False,
    'test_dataloader.dataset.pipeline.1.input_size': (64, 64)
}


def load_tool(name: str):
    """Import tools/<name>.py (not a package) to call its main(argv) in this process."""
    spec = importlib.util.spec_from_file_location(name, REPO / 'tools' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
