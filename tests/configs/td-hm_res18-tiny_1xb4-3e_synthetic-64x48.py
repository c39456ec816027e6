"""Tiny top-down config for the infrastructure tests (DDP, kill-and-resume, bad input).

Stock mmpose parts only (ResNet-18 stem + first stage, HeatmapHead without deconvolutions, stride 4)
at 64x48 so that a few iterations take seconds on a CPU. The training pipeline has no random
augmentation: the tests compare weights across runs, and mmengine re-seeds the global RNG on resume
(it does not restore the RNG state), so random flips/crops would legitimately differ after a resume.
Data root: $MMPOSE_ATTN_TINY_DATA (a tools/synthetic_dataset.py output directory).
"""
_base_ = ['../../configs/_base_/default_runtime.py']

train_cfg = dict(by_epoch=True, max_epochs=3, val_interval=3)
randomness = dict(seed=0, deterministic=True)

optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=3, start_factor=0.1, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=3, milestones=[2], gamma=0.1, by_epoch=True),
]

default_hooks = dict(logger=dict(type='LoggerHook', interval=1), checkpoint=dict(interval=1))

codec = dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ResNet',
        depth=18,
        num_stages=1,
        out_indices=(0, ),
        strides=(1, ),
        dilations=(1, ),
        init_cfg=None),
    head=dict(
        type='HeatmapHead',
        in_channels=64,
        out_channels=17,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(flip_test=False))

dataset_type = 'ValidatedCocoDataset'
data_root = '{{$MMPOSE_ATTN_TINY_DATA:data/synthetic/}}'
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [step for step in train_pipeline if step['type'] != 'GenerateTarget']
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode='topdown',
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    train_dataloader,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        train_dataloader['dataset'],
        ann_file='annotations/val.json',
        test_mode=True,
        pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/val.json')
test_evaluator = val_evaluator
