# SAMKR-W32 warm-started from a trained stock DEKR-W32 (mmpose
# dekr_hrnet-w32_8xb10-140e_coco-512x512.py) instead of ImageNet: the HRNet-W32 backbone, the
# heatmap branch and every displacement-branch tensor whose shape matches load from it; ULSAM, the
# SWAHR scale maps and the displacement tensors of other shape (c = 16 vs DEKR's 15) are
# initialised as usual. Give the checkpoint with
#     --cfg-options load_from=path/to/dekr_hrnet-w32_8xb10-140e_coco-512x512_ac7c17bf-20221228.pth
_base_ = ['./samkr_hrnet-w32_8xb10-140e_coco-512x512.py']

load_from = None  # the stock DEKR-W32 checkpoint
allow_partial_load = True  # ULSAM, scale maps and the resized displacement tensors are new
default_hooks = dict(warm_start=dict(type='WarmStartHook', source='dekr'))
# the backbone comes from the checkpoint: no ImageNet download before it is overwritten
model = dict(backbone=dict(init_cfg=None))
