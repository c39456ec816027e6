# ESAM-R50 (main model): ResNet-50 + stage attention (CAM r=16, SAM two serial 3x3) after all four
# stages, bilinear up-sampling heatmap head. Structure copied from mmpose's
# td-hm_res50_8xb64-210e_coco-256x192.py; schedule and augmentation from the ESAM paper.
_base_ = ['../../_base_/default_runtime.py']

# runtime
train_cfg = dict(max_epochs=270, val_interval=10)

# optimizer (paper: Adam, lr 1e-3)
optim_wrapper = dict(optimizer=dict(
    type='Adam',
    lr=1e-3,
))

# learning policy (paper: x0.1 at epochs 170 and 200); warm-up as in mmpose's configs
param_scheduler = [
    dict(
        type='LinearLR', begin=0, end=500, start_factor=0.001,
        by_epoch=False),  # warm-up
    dict(
        type='MultiStepLR',
        begin=0,
        end=270,
        milestones=[170, 200],
        gamma=0.1,
        by_epoch=True)
]

# automatically scaling LR based on the actual training batch size
auto_scale_lr = dict(base_batch_size=512)

# hooks (the checkpoint hook's type and custom_hooks come from configs/_base_)
default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater'))

# codec settings
codec = dict(
    type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

# model settings
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='ESAMResNet',
        depth=50,
        attention_stages=(True, True, True, True),
        reduction=16,
        sam_layout='serial3x3',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50'),
    ),
    head=dict(
        type='ESAMHead',
        in_channels=2048,
        out_channels=17,
        # four 3x3 conv blocks (2048-256-256-256-256) reproduce the paper's 30.7 M / 49.7 M;
        # conv_first + scales (1, 2, 2, 2) runs them at 8x6, 8x6, 16x12, 32x24 (fast on CPU);
        # upsample_order='interp_first' runs the last one at 64x48 instead (same params).
        upsample_out_channels=(256, 256, 256, 256),
        upsample_kernel_sizes=(3, 3, 3, 3),
        scale_factors=(1, 2, 2, 2),
        upsample_order='conv_first',
        loss=dict(type='KeypointMSELoss', use_target_weight=True),
        decoder=codec),
    test_cfg=dict(
        flip_test=True,
        flip_mode='heatmap',
        shift_heatmap=True,
    ))

# base dataset settings
dataset_type = 'CocoDataset'
data_mode = 'topdown'
data_root = 'data/coco/'

# pipelines (paper: flip, rotation 40 deg, scale 0.3)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(
        type='RandomBBoxTransform', scale_factor=(0.7, 1.3),
        rotate_factor=40.0),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]

# data loaders
train_dataloader = dict(
    batch_size=64,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_train2017.json',
        data_prefix=dict(img='train2017/'),
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/person_keypoints_val2017.json',
        bbox_file='data/coco/person_detection_results/'
        'COCO_val2017_detections_AP_H_56_person.json',
        data_prefix=dict(img='val2017/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
