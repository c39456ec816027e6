# Small SAMKR bottom-up model for the synthetic COCO-format data of tools/synthetic_dataset.py, to
# run the stock runners end to end on a CPU. An HRNet with W18 widths but one module of one block
# per stage (an "HRNet-W18-small"), DEKR's heatmap branch and SAMKR's per-keypoint displacement
# branch with ULSAM (c=16, g=8), at 256x256. Everything not stated here is the SAMKR-W32 COCO
# config's; the heatmap loss is DEKR's plain MSE (the full config's SWAHR loss is a loss choice,
# not part of the architecture).
#
# Data: python tools/synthetic_dataset.py data/synthetic_coco --train-images 300 --val-images 60
# Another location: --cfg-options train_dataloader.dataset.data_root=DIR
#     val_dataloader.dataset.data_root=DIR test_dataloader.dataset.data_root=DIR
_base_ = ['../samkr/coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py']

train_cfg = dict(max_epochs=20, val_interval=5)
optim_wrapper = dict(optimizer=dict(lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=30, start_factor=0.01, by_epoch=False),  # warm-up
    dict(type='CosineAnnealingLR', begin=0, end=20, T_max=20, eta_min=2e-5, by_epoch=True,
         convert_to_iter_based=True)
]
auto_scale_lr = dict(base_batch_size=8)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=5),
    checkpoint=dict(interval=5, max_keep_ckpts=1))

codec = dict(_base_.codec, input_size=(256, 256), heatmap_size=(256 // 4, 256 // 4),
             decode_max_instances=10)

model = dict(
    backbone=dict(
        extra=dict(
            stage1=dict(num_blocks=(1, ), num_channels=(32, )),
            stage2=dict(num_blocks=(1, 1), num_channels=(18, 36)),
            stage3=dict(num_modules=1, num_blocks=(1, 1, 1), num_channels=(18, 36, 72)),
            stage4=dict(
                num_modules=1, num_blocks=(1, 1, 1, 1), num_channels=(18, 36, 72, 144))),
        init_cfg=None,  # no pretrained weights for this width; trained from scratch
    ),
    head=dict(
        in_channels=270,  # 18 + 36 + 72 + 144
        with_scale_maps=False,
        heatmap_loss=dict(_delete_=True, type='KeypointMSELoss', use_target_weight=True),
        decoder=codec,
    ),
    # no flip test: the synthetic people have blue left and red right limbs, a mirror image would
    # show a person whose colours contradict the swapped labels
    test_cfg=dict(flip_test=False))

data_root = 'data/synthetic_coco/'
# the W32 pipelines at 256, without RandomFlip (see test_cfg) and with milder affine augmentation
train_pipeline = [
    dict(step, input_size=codec['input_size'], shift_factor=0.1, scale_factor=(0.75, 1.25))
    if step['type'] == 'BottomupRandomAffine' else
    dict(step, encoder=codec) if step['type'] == 'GenerateTarget' else step
    for step in _base_.train_pipeline if step['type'] != 'RandomFlip']
val_pipeline = [dict(step, input_size=codec['input_size']) if step['type'] == 'MultiScaleBottomupResize'
                else step for step in _base_.val_pipeline]
train_dataloader = dict(
    batch_size=8,
    num_workers=1,
    dataset=dict(
        data_root=data_root,
        ann_file='annotations/train.json',
        data_prefix=dict(img='images/'),
        pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(
    train_dataloader['dataset'], ann_file='annotations/val.json', pipeline=val_pipeline))
test_dataloader = val_dataloader

# ann_file=None evaluates against the val dataset's own annotation file, so overriding the
# dataloaders' data_root is enough
val_evaluator = dict(ann_file=None)
test_evaluator = val_evaluator
