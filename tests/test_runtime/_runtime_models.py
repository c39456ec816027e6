"""Small exported models for the runtime's tests (conftest.py makes them session fixtures):
ESAM-R18 (128x96) and SAMKR-W18-small (256x416 input: the size mmpose's resize gives the 640x425
and 500x333 COCO samples), random weights, flip test on, exported by
tools/deployment/export_onnx.py's function."""
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ESAM = REPO / 'tests/configs/td-hm_esam-res18-w16_1xb16-40e_coco-samples-128x96.py'
SAMKR = REPO / 'tests/configs/samkr_hrnet-w18s_1xb4-60e_coco-samples-256x256.py'
#: the (H, W) mmpose's BottomupResize gives these COCO samples at input_size 256, expand mode
SAMKR_HW = (256, 416)
#: all four COCO samples: they resize to 256x416 and 256x448 (an any-shape file takes both)
COCO_IMAGES = ('000000000785.jpg', '000000040083.jpg', '000000196141.jpg', '000000197388.jpg')


def prepared_config(path, data_root=None):
    """The config with flip test on (heatmap flip + shift) and ``dataset_meta`` from its COCO
    dataset (the training set is a RepeatDataset, which has none)."""
    from mmpose_attn.utils import load_config
    cfg = load_config(str(path))
    if data_root is not None:
        cfg.val_dataloader.dataset.data_root = data_root
        cfg.test_dataloader.dataset.data_root = data_root
    cfg.train_dataloader.dataset = cfg.val_dataloader.dataset
    cfg.model.test_cfg.flip_test = True
    cfg.model.test_cfg.setdefault('flip_mode', 'heatmap')
    cfg.model.test_cfg.shift_heatmap = True
    return cfg


def export(path, out, hw, dynamic_hw=False):
    import torch

    from mmpose_attn.deployment import export as dx
    cfg = prepared_config(path)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        model = dx.build_export_model(cfg, 'none')
        dx.export_onnx(model, str(out), hw, dynamic_hw=dynamic_hw)
    return str(out)
