# ESAM-R50 (main model), COCO: mmpose's SimpleBaseline-R50 with stage attention (CAM r=16, SAM two
# serial 3x3 convs) after all four stages and a bilinear up-sampling head (ESAM Table 2 "Our + new
# AM"); schedule and augmentation from the ESAM paper. Paper readings: configs/esam/README.md.
_base_ = ['mmpose::body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py',
          '../../_base_/plugin.py']

default_hooks = {{_base_.plugin_default_hooks}}
custom_hooks = {{_base_.plugin_custom_hooks}}
visualizer = dict(type={{_base_.plugin_visualizer_type}})

# paper: 270 epochs, Adam lr 1e-3, x0.1 at epochs 170 and 200
train_cfg = dict(max_epochs=270)
optim_wrapper = dict(optimizer=dict(lr=1e-3))
# (mmpose's warm-up and steps, over 270 epochs)
param_scheduler = [_base_.param_scheduler[0], dict(_base_.param_scheduler[1], end=270)]

model = dict(
    backbone=dict(
        type='ESAMResNet',
        attention_stages=(True, True, True, True),
        reduction=16,
        sam_layout='serial3x3'),
    head=dict(
        type='ESAMHead',
        # four 3x3 conv blocks (2048-256-256-256-256) reproduce the paper's 30.7 M / 49.7 M;
        # conv_first + scales (1, 2, 2, 2) runs them at 8x6, 8x6, 16x12, 32x24 (fast on CPU);
        # upsample_order='interp_first' runs the last one at 64x48 instead (same params).
        upsample_out_channels=(256, 256, 256, 256),
        upsample_kernel_sizes=(3, 3, 3, 3),
        scale_factors=(1, 2, 2, 2),
        upsample_order='conv_first'))

# paper: flip, rotation 40 deg, scale 0.3
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(
        type='RandomBBoxTransform', scale_factor=(0.7, 1.3),
        rotate_factor=40.0),
    dict(type='TopdownAffine', input_size={{_base_.codec.input_size}}),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    dataset=dict(type='ValidatedCocoDataset', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='ValidatedCocoDataset'))
test_dataloader = val_dataloader
