# ESAM-R50 with two parallel 3x3 SAM convs (a 3x3 and a dilation-2 3x3 on the channel mean, logits
# added before one sigmoid). Only the SAM kernels differ from the main config.
_base_ = ['./td-hm_esam-res50_8xb64-270e_coco-256x192.py']

model = dict(backbone=dict(sam_layout='parallel3x3'))
