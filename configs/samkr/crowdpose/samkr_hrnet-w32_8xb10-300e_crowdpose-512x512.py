# SAMKR-W32, CrowdPose (K = 14): HRNet-W32 + DEKR head whose displacement branch adds ULSAM
# subspace attention (c = 16, g = 8; the head computes m = K*c = 224, s = 2), trained with the
# SWAHR heatmap loss.
# Everything else is the COCO W32 config's; what differs (schedule, K, displacement loss weight,
# dataset, no heatmap-mask step, crowd evaluation) is mmpose's
# dekr_hrnet-w32_8xb10-300e_crowdpose-512x512.py, which differs from its COCO config the same way.
_base_ = ['../coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py']

# runtime
train_cfg = dict(max_epochs=300, val_interval=20)

# learning policy (CrowdPose as DEKR: 300 epochs, x0.1 at 200 and 260)
param_scheduler = [_base_.param_scheduler[0],  # warm-up
                   dict(_base_.param_scheduler[1], end=300, milestones=[200, 260])]

default_hooks = dict(checkpoint=dict(save_best='crowdpose/AP'))

# model settings
model = dict(
    head=dict(
        num_keypoints=14,
        displacement_loss=dict(loss_weight=0.004),
        # No rescore net by default, so the config runs offline. To use DEKR's official
        # CrowdPose rescore weights, download
        # https://download.openmmlab.com/mmpose/pretrain_models/kpt_rescore_crowdpose-300c7efe.pth
        # and set:
        # rescore_cfg=dict(
        #     in_channels=59,
        #     norm_indexes=(0, 1),
        #     init_cfg=dict(type='Pretrained',
        #                   checkpoint='path/to/kpt_rescore_crowdpose-300c7efe.pth')),
    ))

# base dataset settings
dataset_type = 'ValidatedCrowdPoseDataset'
data_root = 'data/crowdpose/'

# pipelines: the COCO config's without BottomupGetHeatmapMask, as mmpose's CrowdPose DEKR
train_pipeline = [step for step in _base_.train_pipeline if step['type'] != 'BottomupGetHeatmapMask']

# data loaders
val_dataloader = dict(
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        ann_file='annotations/mmpose_crowdpose_test.json',
        data_prefix=dict(img='images/'),
    ))
test_dataloader = val_dataloader
train_dataloader = dict(dataset=dict(
    val_dataloader['dataset'], ann_file='annotations/mmpose_crowdpose_trainval.json',
    pipeline=train_pipeline))

# evaluators (AP, AP50, AP75, AP(E), AP(M), AP(H), AR, ...)
val_evaluator = dict(
    ann_file=data_root + 'annotations/mmpose_crowdpose_test.json',
    use_area=False,
    iou_type='keypoints_crowd',
    prefix='crowdpose')
test_evaluator = val_evaluator
