# Small ESAM top-down model for the synthetic COCO-format data of tools/synthetic_dataset.py: the
# README main job (tools/quickstart.sh) trains it from scratch on 2 CPU cores in a few minutes.
# ESAM-R18 at a quarter of the width (base 16 channels, output stride 16), stage attention after all
# four stages, an ESAMHead of a 3x3 conv block and two bilinear x2 blocks (8x6 -> 32x24).
# Everything not stated here is the ESAM-R50 COCO config's.
#
# Data: python tools/synthetic_dataset.py data/synthetic_coco --train-images 300 --val-images 60
# Another location: --cfg-options train_dataloader.dataset.data_root=DIR
#     val_dataloader.dataset.data_root=DIR test_dataloader.dataset.data_root=DIR
# (the evaluator builds its ground truth from the val dataset, so it follows along).
_base_ = ['../esam/coco/td-hm_esam-res50_8xb64-270e_coco-256x192.py']

train_cfg = dict(max_epochs=6, val_interval=2)

# optimizer: from scratch on small data a higher lr than the paper's 1e-3 converges faster
optim_wrapper = dict(optimizer=dict(lr=3e-3))

# learning policy
param_scheduler = [
    dict(type='LinearLR', begin=0, end=30, start_factor=0.01, by_epoch=False),  # warm-up
    dict(type='CosineAnnealingLR', begin=0, end=6, T_max=6, eta_min=3e-5, by_epoch=True,
         convert_to_iter_based=True)
]

# automatically scaling LR based on the actual training batch size
auto_scale_lr = dict(base_batch_size=32)

# hooks
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(interval=2, max_keep_ckpts=1))

# codec settings: DARK decoding recovers sub-pixel positions from the coarse 32x24 heatmaps
codec = dict(
    type='MSRAHeatmap', input_size=(96, 128), heatmap_size=(24, 32), sigma=1.5, unbiased=True)

# model settings
model = dict(
    backbone=dict(
        depth=18,
        stem_channels=16,
        base_channels=16,
        reduction=4,  # 16 would leave 1-8 hidden units in the narrow CAMs
        # stride 16 (last stage not down-sampled): at this width a 4x3 map of 128 channels is too
        # small a bottleneck to carry precise positions (synthetic val AP after 4 epochs: 0.21 at
        # stride 32, 0.64 at stride 16, with slightly larger joint blobs)
        strides=(1, 2, 2, 1),
        init_cfg=None,  # no pretrained weights exist at this width; trained from scratch
    ),
    head=dict(
        in_channels=128,
        # the ESAM layout (a channel-reducing conv block, then bilinear x2 blocks) at a quarter of
        # the width, from stride 16: 8x6 -> 8x6 -> 16x12 -> 32x24
        upsample_out_channels=(64, 64, 64),
        upsample_kernel_sizes=(3, 3, 3),
        scale_factors=(1, 2, 2),
        decoder=codec),
    # no flip test: the synthetic people have blue left and red right limbs, a mirror image would
    # show a person whose colours contradict the swapped labels
    test_cfg=dict(_delete_=True, flip_test=False))

# base dataset settings
data_root = 'data/synthetic_coco/'

# pipelines: no RandomFlip (see test_cfg); scale/rotation/shift augmentation as in mmpose
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomBBoxTransform', rotate_factor=15, scale_factor=(0.85, 1.15)),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs')
]
val_pipeline = [step for step in train_pipeline
                if step['type'] not in ('RandomBBoxTransform', 'GenerateTarget')]

# data loaders
train_dataloader = dict(
    batch_size=32,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline,
    ))
val_dataloader = dict(
    num_workers=1,
    dataset=dict(
        _delete_=True,  # no bbox_file: ground-truth boxes
        type='ValidatedCocoDataset',
        data_root=data_root,
        data_mode='topdown',
        ann_file='annotations/val.json',
        data_prefix=dict(img='images/'),
        test_mode=True,
        pipeline=val_pipeline,
    ))
test_dataloader = val_dataloader

# evaluators: ann_file=None builds the COCO ground truth from the dataset's own annotations, so
# overriding the dataloaders' data_root is enough to evaluate elsewhere
val_evaluator = dict(ann_file=None)
test_evaluator = val_evaluator
