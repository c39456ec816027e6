# ESAM-R101: the main ESAM config with a ResNet-101 backbone (two serial 3x3 SAM convs).
_base_ = ['./td-hm_esam-res50_8xb64-270e_coco-256x192.py']

model = dict(
    backbone=dict(
        depth=101,
        init_cfg=dict(type='Pretrained',
                      checkpoint='torchvision://resnet101')))
