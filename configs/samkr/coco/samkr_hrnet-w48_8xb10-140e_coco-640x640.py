# SAMKR-W48, COCO: HRNet-W48 + DEKR head whose displacement branch adds ULSAM subspace attention
# (c = 16, g = 8). As in the paper, W48 keeps DEKR's heatmap loss (no SWAHR).
# Everything else (schedule, head structure, data, evaluation) is the W32 config's; mmpose's
# dekr_hrnet-w48_8xb10-140e_coco-640x640.py differs from its W32 config in the same values.
# 65.71 M parameters (DEKR-W48: 65.68 M).
_base_ = ['./samkr_hrnet-w32_8xb10-140e_coco-512x512.py']

# codec settings
codec = dict(
    type='SPR',
    input_size=(640, 640),
    heatmap_size=(160, 160),
    sigma=(4, 2),
    minimal_diagonal_length=32**0.5,
    generate_keypoint_heatmaps=True,
    decode_max_instances=30)

# model settings: W48 widths and ImageNet weights; DEKR's heatmap loss, no SWAHR scale maps
model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384))),
        init_cfg=dict(
            type='Pretrained',
            checkpoint='https://download.openmmlab.com/mmpose/'
            'pretrain_models/hrnet_w48-8ef0771d.pth'),
    ),
    head=dict(
        in_channels=720,
        num_heatmap_filters=48,
        with_scale_maps=False,
        heatmap_loss=dict(_delete_=True, type='KeypointMSELoss', use_target_weight=True),
        decoder=codec,
    ))

# pipelines: as the W32 config, at 640 (shift_factor = 40 px / input width)
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

train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
