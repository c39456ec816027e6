# Overfitting check on the 4 real COCO val images of ../shared/data (12 people with keypoints): the
# small synthetic-data ESAM model, trained and evaluated on those same images with ground-truth
# boxes. Reaching AP >= 0.9 shows that the learning machinery, the codec and the COCO evaluation
# work on real photographs (tests/test_tools/test_runners.py). It is not a generalisation result.
#
#   mim train mmpose tests/configs/td-hm_esam-res18-w16_1xb16-40e_coco-samples-128x96.py
_base_ = ['../../configs/synthetic/td-hm_esam-res18-w16_1xb32-6e_synthetic-coco-128x96.py']

train_cfg = dict(max_epochs=40, val_interval=40)
optim_wrapper = dict(optimizer=dict(lr=3e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=10, start_factor=0.01, by_epoch=False),
    dict(
        type='CosineAnnealingLR',
        begin=0,
        end=40,
        T_max=40,
        eta_min=3e-5,
        by_epoch=True,
        convert_to_iter_based=True)
]
default_hooks = dict(logger=dict(interval=10), checkpoint=dict(interval=40, save_best=None))

data_root = '../shared/data/coco/'
# memorising: the training crops are exactly the evaluation crops (no augmentation)
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=(96, 128)),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(
    batch_size=16,
    dataset=dict(
        _delete_=True,
        type='RepeatDataset',
        times=4,  # 48 crops per epoch, so that an epoch is a few iterations
        dataset=dict(
            type='CocoDataset',
            data_root=data_root,
            data_mode='topdown',
            ann_file='annotations/test_coco.json',
            data_prefix=dict(img='images/'),
            pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=16, dataset=dict(data_root=data_root, ann_file='annotations/test_coco.json'))
test_dataloader = val_dataloader
