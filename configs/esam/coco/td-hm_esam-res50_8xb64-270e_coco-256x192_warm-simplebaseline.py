# ESAM-R50 warm-started from a trained stock SimpleBaseline-R50 (mmpose
# td-hm_res50_8xb64-210e_coco-256x192.py) instead of ImageNet: the ResNet-50 backbone loads from it;
# the stage attentions and the bilinear head are initialised as usual. Give the checkpoint with
#     --cfg-options load_from=path/to/td-hm_res50_8xb64-210e_coco-256x192-xxxx.pth
# WarmStartHook keeps only its backbone.* tensors (the deconv head has no counterpart in ESAM).
_base_ = ['./td-hm_esam-res50_8xb64-270e_coco-256x192.py']

load_from = None  # the stock SimpleBaseline-R50 checkpoint
allow_partial_load = True  # the attention modules and the head are new
default_hooks = dict(warm_start=dict(type='WarmStartHook', source='simplebaseline'))
# the backbone comes from the checkpoint: no ImageNet download before it is overwritten
model = dict(backbone=dict(init_cfg=None))
