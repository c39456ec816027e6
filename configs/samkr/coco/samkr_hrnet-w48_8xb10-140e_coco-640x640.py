# SAMKR-W48, COCO: HRNet-W48 + DEKR head whose displacement branch adds ULSAM subspace attention
# (c = 16, g = 8). As in the paper, W48 keeps DEKR's heatmap loss (no SWAHR).
# Everything else (schedule, head structure, data, evaluation) is the W32 config's; what W48
# changes is ../_base_/samkr_hrnet-w48_640.py (mmpose's W48 DEKR config differs from its W32 config
# in the same values).
_base_ = ['./samkr_hrnet-w32_8xb10-140e_coco-512x512.py', '../_base_/samkr_hrnet-w48_640.py']

codec = {{_base_.samkr_w48_codec}}
model = {{_base_.samkr_w48_model}}

# the W32 pipelines at 640
train_pipeline, val_pipeline = (
    [dict(step, **_base_.samkr_w48_step_args.get(step['type'], {})) for step in pipeline]
    for pipeline in (_base_.train_pipeline, _base_.val_pipeline))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
