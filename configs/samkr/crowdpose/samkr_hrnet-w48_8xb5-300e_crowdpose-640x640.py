# SAMKR-W48, CrowdPose (K = 14): HRNet-W48 + DEKR head whose displacement branch adds ULSAM
# subspace attention (m = K*c = 224, c = 16, g = 8, s = 2); DEKR's heatmap loss (no SWAHR).
# Structure and schedule copied from mmpose's dekr_hrnet-w48_8xb5-300e_crowdpose-640x640.py.
_base_ = ['mmpose::_base_/default_runtime.py']

custom_imports = dict(imports=['mmpose_attn'], allow_failed_imports=False)

# runtime
train_cfg = dict(max_epochs=300, val_interval=20)

# optimizer (paper: Adam 1e-3)
optim_wrapper = dict(optimizer=dict(
    type='Adam',
    lr=1e-3,
))

# learning policy (CrowdPose as DEKR: 300 epochs, x0.1 at 200 and 260)
param_scheduler = [
    dict(
        type='LinearLR', begin=0, end=500, start_factor=0.001,
        by_epoch=False),  # warm-up
    dict(
        type='MultiStepLR',
        begin=0,
        end=300,
        milestones=[200, 260],
        gamma=0.1,
        by_epoch=True)
]

# automatically scaling LR based on the actual training batch size
auto_scale_lr = dict(base_batch_size=40)

# hooks
# AtomicCheckpointHook: a killed job never leaves a truncated checkpoint for --resume;
# ValidateDataHook: bad annotations/images fail before the first iteration, naming file and field.
default_hooks = dict(
    checkpoint=dict(
        type='AtomicCheckpointHook', save_best='crowdpose/AP', rule='greater'))
custom_hooks = [dict(type='SyncBuffersHook'), dict(type='ValidateDataHook')]

# codec settings
codec = dict(
    type='SPR',
    input_size=(640, 640),
    heatmap_size=(160, 160),
    sigma=(4, 2),
    minimal_diagonal_length=32**0.5,
    generate_keypoint_heatmaps=True,
    decode_max_instances=30)

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
                num_blocks=(4, ),
                num_channels=(64, )),
            stage2=dict(
                num_modules=1,
                num_branches=2,
                block='BASIC',
                num_blocks=(4, 4),
                num_channels=(48, 96)),
            stage3=dict(
                num_modules=4,
                num_branches=3,
                block='BASIC',
                num_blocks=(4, 4, 4),
                num_channels=(48, 96, 192)),
            stage4=dict(
                num_modules=3,
                num_branches=4,
                block='BASIC',
                num_blocks=(4, 4, 4, 4),
                num_channels=(48, 96, 192, 384),
                multiscale_output=True)),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrnet_w48-8ef0771d.pth'),
    ),
    neck=dict(
        type='FeatureMapProcessor',
        concat=True,
    ),
    head=dict(
        type='SAMKRHead',
        in_channels=720,
        num_keypoints=14,
        num_heatmap_filters=48,
        # structure (m, c, g, s) of the displacement branch
        branch='per_keypoint',
        num_displacement_filters=224,
        num_displacement_filters_per_keypoint=16,
        num_subspaces=8,
        subspace_channels=2,
        ulsam_with_norm_act=False,  # the paper's ULSAM equation (no BN/ReLU)
        # DEKR's heatmap loss, no SWAHR scale maps
        with_scale_maps=False,
        heatmap_loss=dict(type='KeypointMSELoss', use_target_weight=True),
        displacement_loss=dict(
            type='SoftWeightSmoothL1Loss',
            use_target_weight=True,
            supervise_empty=False,
            beta=1 / 9,
            loss_weight=0.004,
        ),
        decoder=codec,
        # No rescore net by default, so the config runs offline. To use DEKR's official
        # CrowdPose rescore weights, download
        # https://download.openmmlab.com/mmpose/pretrain_models/kpt_rescore_crowdpose-300c7efe.pth
        # and set:
        # rescore_cfg=dict(
        #     in_channels=59,
        #     norm_indexes=(0, 1),
        #     init_cfg=dict(type='Pretrained',
        #                   checkpoint='path/to/kpt_rescore_crowdpose-300c7efe.pth')),
        rescore_cfg=None,
    ),
    test_cfg=dict(
        multiscale_test=False,
        flip_test=True,
        nms_dist_thr=0.05,
        shift_heatmap=True,
        align_corners=False))

# enable DDP training when rescore net is used
find_unused_parameters = True

# base dataset settings
dataset_type = 'CrowdPoseDataset'
data_mode = 'bottomup'
data_root = 'data/crowdpose/'

# pipelines (paper: rotation +-30 deg, scale [0.75, 1.5], translation +-40 px, flip; mmpose
# shifts by a fraction of the image, so shift_factor = 40 px / input width)
train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine',
        input_size=codec['input_size'],
        shift_factor=40 / 640,
        rotate_factor=30.,
        scale_factor=(0.75, 1.5)),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='GenerateTarget', encoder=codec),
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
    batch_size=5,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_mode=data_mode,
        ann_file='annotations/mmpose_crowdpose_trainval.json',
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
        ann_file='annotations/mmpose_crowdpose_test.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators (AP, AP50, AP75, AP(E), AP(M), AP(H), AR, ...)
val_evaluator = dict(
    type='CocoMetric',
    ann_file=data_root + 'annotations/mmpose_crowdpose_test.json',
    nms_mode='none',
    score_mode='keypoint',
    use_area=False,
    iou_type='keypoints_crowd',
    prefix='crowdpose')
test_evaluator = val_evaluator
