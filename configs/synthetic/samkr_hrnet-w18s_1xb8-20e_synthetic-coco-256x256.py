# Small SAMKR bottom-up model for the synthetic COCO-format data of tools/synthetic_dataset.py, to
# run the stock runners end to end on a CPU. An HRNet with W18 widths but one module of one block
# per stage (an "HRNet-W18-small"), DEKR's heatmap branch and SAMKR's per-keypoint displacement
# branch with ULSAM (m=272, c=16, g=8, s=2), at 256x256. Structure copied from
# configs/samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py; the heatmap loss is DEKR's plain
# MSE (the full config's SWAHR loss is a loss choice, not part of the architecture).
#
# Data: python tools/synthetic_dataset.py data/synthetic_coco --train-images 300 --val-images 60
# Another location: --cfg-options train_dataloader.dataset.data_root=DIR
#     val_dataloader.dataset.data_root=DIR test_dataloader.dataset.data_root=DIR
_base_ = ['../_base_/default_runtime.py']

# runtime
train_cfg = dict(max_epochs=20, val_interval=5)

# optimizer
optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))

# learning policy
param_scheduler = [
    dict(type='LinearLR', begin=0, end=30, start_factor=0.01, by_epoch=False),  # warm-up
    dict(type='CosineAnnealingLR', begin=0, end=20, T_max=20, eta_min=2e-5, by_epoch=True,
         convert_to_iter_based=True)
]

# automatically scaling LR based on the actual training batch size
auto_scale_lr = dict(base_batch_size=8)

# hooks
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(interval=5, max_keep_ckpts=1, save_best='coco/AP', rule='greater'))

# codec settings
codec = dict(
    type='SPR',
    input_size=(256, 256),
    heatmap_size=(64, 64),
    sigma=(4, 2),
    minimal_diagonal_length=32**0.5,
    generate_keypoint_heatmaps=True,
    decode_max_instances=10)

# model settings
model = dict(
    type='BottomupPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(
                num_modules=1,
                num_branches=1,
                block='BOTTLENECK',
                num_blocks=(1, ),
                num_channels=(32, )),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='BASIC',
                num_blocks=(1, 1),
                num_channels=(18, 36)),
            stage3=dict(
                num_modules=1,
                num_branches=3,
                block='BASIC',
                num_blocks=(1, 1, 1),
                num_channels=(18, 36, 72)),
            stage4=dict(
                num_modules=1,
                num_branches=4,
                block='BASIC',
                num_blocks=(1, 1, 1, 1),
                num_channels=(18, 36, 72, 144),
                multiscale_output=True)),
        init_cfg=None,  # no pretrained weights for this width; trained from scratch
    ),
    neck=dict(
        type='FeatureMapProcessor',
        concat=True,
    ),
    head=dict(
        type='SAMKRHead',
        in_channels=270,  # 18 + 36 + 72 + 144
        num_keypoints=17,
        branch='per_keypoint',
        num_displacement_filters=272,
        num_displacement_filters_per_keypoint=16,
        num_subspaces=8,
        subspace_channels=2,
        heatmap_loss=dict(type='KeypointMSELoss', use_target_weight=True),
        displacement_loss=dict(
            type='SoftWeightSmoothL1Loss',
            use_target_weight=True,
            supervise_empty=False,
            beta=1 / 9,
            loss_weight=0.002,
        ),
        decoder=codec,
        rescore_cfg=None,
    ),
    # no flip test: the synthetic people have blue left and red right limbs, a mirror image would
    # show a person whose colours contradict the swapped labels
    test_cfg=dict(
        multiscale_test=False,
        flip_test=False,
        nms_dist_thr=0.05,
        shift_heatmap=True,
        align_corners=False))

# base dataset settings
dataset_type = 'CocoDataset'
data_mode = 'bottomup'
data_root = 'data/synthetic_coco/'

# pipelines: no RandomFlip (see test_cfg)
train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine',
        input_size=codec['input_size'],
        shift_factor=0.1,
        rotate_factor=30.,
        scale_factor=(0.75, 1.25)),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='BottomupGetHeatmapMask'),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupResize',
        input_size=codec['input_size'],
        size_factor=32,
        resize_mode='expand'),
    dict(
        type='PackPoseInputs',
        meta_keys=('id', 'img_id', 'img_path', 'crowd_index', 'ori_shape',
                   'img_shape', 'input_size', 'input_center', 'input_scale',
                   'flip', 'flip_direction', 'flip_indices', 'raw_ann_info',
                   'skeleton_links'))
]

# data loaders
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    batch_size=1,
    num_workers=1,
    persistent_workers=True,
    drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators (AP, AP50, AP75, APM, APL, AR): ann_file=None evaluates against the val dataset's own
# annotation file, so overriding the dataloaders' data_root is enough
val_evaluator = dict(
    type='CocoMetric',
    ann_file=None,
    nms_mode='none',
    score_mode='keypoint',
)
test_evaluator = val_evaluator
