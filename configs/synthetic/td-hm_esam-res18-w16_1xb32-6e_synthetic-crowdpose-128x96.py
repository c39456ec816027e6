# The small ESAM top-down model on synthetic CrowdPose-format data (14 keypoints, crowdIndex per
# image): python tools/synthetic_dataset.py data/synthetic_crowdpose --dataset crowdpose
# The CrowdPose metric reports AP(E)/AP(M)/AP(H) over the images' crowd index.
_base_ = ['./td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py']

default_hooks = dict(checkpoint=dict(save_best='crowdpose/AP'))

model = dict(head=dict(out_channels=14))

dataset_type = 'ValidatedCrowdPoseDataset'
data_root = 'data/synthetic_crowdpose/'
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root))
test_dataloader = val_dataloader

# CrowdPose's protocol: OKS without area (its annotations have none) and the crowd-index split
val_evaluator = dict(
    type='CocoMetric', ann_file=None, use_area=False, iou_type='keypoints_crowd',
    prefix='crowdpose')
test_evaluator = val_evaluator
