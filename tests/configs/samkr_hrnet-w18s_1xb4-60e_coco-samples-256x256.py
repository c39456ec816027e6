# The small synthetic-data SAMKR model on the 4 real COCO val images of ../shared/data, evaluated on
# the same images: a check that bottom-up inference, its test-time augmentations (flip,
# multi-scale) and the COCO evaluation work on real photographs. Training on it memorises those
# images; it is not a generalisation result.
#
# Multi-scale test (scale 1 is always run):
#   --cfg-options model.test_cfg.multiscale_test=True \
#       test_dataloader.dataset.pipeline.1.aug_scales="[0.5,1.5]"
_base_ = ['../../configs/synthetic/samkr_hrnet-w18s_1xb8-20e_synthetic-coco-256x256.py']

train_cfg = dict(max_epochs=60, val_interval=60)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=10, start_factor=0.01, by_epoch=False),
    dict(
        type='CosineAnnealingLR',
        begin=0,
        end=60,
        T_max=60,
        eta_min=3e-5,
        by_epoch=True,
        convert_to_iter_based=True)
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=60))

data_root = '../shared/data/coco/'
input_size = (256, 256)  # the base's codec['input_size']
# memorising: each training input is the whole image, as at test time (no augmentation)
train_pipeline = [
    dict(type='LoadImage'),
    dict(
        type='BottomupRandomAffine',
        input_size=input_size,
        shift_factor=0.,
        rotate_factor=0.,
        scale_factor=(1., 1.)),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='BottomupGetHeatmapMask'),
    dict(type='PackPoseInputs'),
]
dataset = dict(
    type='CocoDataset',
    data_root=data_root,
    data_mode='bottomup',
    ann_file='annotations/test_coco.json',
    data_prefix=dict(img='images/'))
train_dataloader = dict(
    batch_size=4,
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        times=4,
        dataset=dict(**dataset, pipeline=train_pipeline)))
val_dataloader = dict(dataset=dict(**dataset, test_mode=True, pipeline=_base_.val_pipeline))
test_dataloader = val_dataloader
