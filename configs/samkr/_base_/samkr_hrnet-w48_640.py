# SAMKR-W48 at 640x640: what mmpose's dekr_hrnet-w48_8xb10-140e_coco-640x640.py changes in its W32
# config (HRNet-W48 widths and ImageNet weights, 640 input, 160 heatmaps), and W48 keeping DEKR's
# heatmap loss (no SWAHR scale maps) as in the paper. 65.71 M parameters (DEKR-W48: 65.68 M).
# The W48 configs (COCO, CrowdPose) list this file next to their W32 config in `_base_` and state
#     codec = {{_base_.samkr_w48_codec}}
#     model = {{_base_.samkr_w48_model}}
# and rebuild the W32 pipelines with `samkr_w48_step_args` (the input-size dependent arguments of
# each step type). The values are held under their own names because mmengine refuses two bases
# that share a key.
samkr_w48_codec = dict(
    type='SPR',
    input_size=(640, 640),
    heatmap_size=(640 // 4, 640 // 4),
    sigma=(4, 2),
    minimal_diagonal_length=32**0.5,
    generate_keypoint_heatmaps=True,
    decode_max_instances=30)

samkr_w48_model = dict(
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
        in_channels=48 + 96 + 192 + 384,
        num_heatmap_filters=48,
        with_scale_maps=False,
        heatmap_loss=dict(_delete_=True, type='KeypointMSELoss', use_target_weight=True),
        decoder=samkr_w48_codec,
    ))

# the paper's translation of +-40 px is a fraction of the input width in mmpose
samkr_w48_step_args = dict(
    BottomupRandomAffine=dict(input_size=samkr_w48_codec['input_size'],
                              shift_factor=40 / samkr_w48_codec['input_size'][0]),
    GenerateTarget=dict(encoder=samkr_w48_codec),
    MultiScaleBottomupResize=dict(input_size=samkr_w48_codec['input_size']))
