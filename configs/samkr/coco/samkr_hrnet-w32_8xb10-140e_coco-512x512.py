# SAMKR-W32 (main model), COCO: mmpose's DEKR-W32 whose displacement branch adds ULSAM subspace
# attention (c = 16, g = 8, hence m = K*c = 272, s = c/g = 2; SAMKR Tables 1-2 row 8_SAMKR_16),
# trained with the SWAHR heatmap loss as in the paper. Paper readings: configs/samkr/README.md.
_base_ = ['mmpose::body_2d_keypoint/dekr/coco/dekr_hrnet-w32_8xb10-140e_coco-512x512.py',
          '../../_base_/plugin.py']

default_hooks = {{_base_.plugin_default_hooks}}
custom_hooks = {{_base_.plugin_custom_hooks}}
visualizer = dict(type={{_base_.plugin_visualizer_type}})

# MultiScaleBottomupPoseEstimator / MultiScalePoseDataPreprocessor and the two pipeline steps below
# are mmpose's, plus multi-scale testing (off until aug_scales is set: README "Multi-scale testing")
model = dict(
    type='MultiScaleBottomupPoseEstimator',
    data_preprocessor=dict(type='MultiScalePoseDataPreprocessor'),
    head=dict(
        type='SAMKRHead',
        # displacement-branch structure: m = K*c and s = c/g are computed by the head
        branch='per_keypoint',
        num_displacement_filters_per_keypoint=16,
        num_subspaces=8,
        ulsam_with_norm_act=False,  # the paper's ULSAM equation (no BN/ReLU)
        with_scale_maps=True,  # SWAHR: K scale maps, used by the loss only
        heatmap_loss=dict(
            _delete_=True,
            type='SWAHRLoss',
            use_target_weight=True,
            gamma=0.01,
            scale_loss_weight=1.0),
        # No rescore net, so the config runs offline. For DEKR's rescore weights set mmpose's
        # rescore_cfg (in_channels=74, norm_indexes=(5, 6), init_cfg=Pretrained
        # kpt_rescore_coco-33d58c5c.pth).
        rescore_cfg=None,
    ))

# paper: rotation +-30 deg, scale [0.75, 1.5], translation +-40 px, flip; mmpose shifts by a
# fraction of the input, so shift_factor = 40 px / input width
train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine',
        input_size={{_base_.codec.input_size}},
        shift_factor=40 / 512,
        rotate_factor=30.,
        scale_factor=(0.75, 1.5)),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='BottomupGetHeatmapMask'),
    dict(type='PackPoseInputs'),
]
multiscale_steps = dict(BottomupResize='MultiScaleBottomupResize',
                       PackPoseInputs='PackMultiScalePoseInputs')
val_pipeline = [dict(step, type=multiscale_steps.get(step['type'], step['type']))
                for step in _base_.val_pipeline]
train_dataloader = dict(
    dataset=dict(type='ValidatedCocoDataset', pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type='ValidatedCocoDataset', pipeline=val_pipeline))
test_dataloader = val_dataloader
