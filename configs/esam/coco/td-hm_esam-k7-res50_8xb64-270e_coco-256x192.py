# ESAM-R50 with the earlier "fine-tuning AM": SAM is one 7x7 conv (CBAM-like). Only the SAM
# kernels differ from the main config.
_base_ = ['./td-hm_esam-res50_8xb64-270e_coco-256x192.py']

model = dict(backbone=dict(sam_layout='k7'))
