# Evaluates a model trained by
# configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-crowdpose-128x96.py on the 2 real
# CrowdPose images of ../shared/data (ground-truth boxes); the CrowdPose metric prints
# AP(E)/AP(M)/AP(H). A model trained on stick figures scores near 0 on photographs: this config
# checks the data path and the metric, not accuracy.
#
#   mim test mmpose tests/configs/td-hm_esam-res18-w16_crowdpose-samples-128x96.py \
#       --checkpoint CKPT
_base_ = ['../../configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-crowdpose-128x96.py']

data_root = '../shared/data/crowdpose/'
val_dataloader = dict(dataset=dict(data_root=data_root, ann_file='annotations/test_crowdpose.json'))
test_dataloader = val_dataloader
