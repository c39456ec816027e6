# SAMKR-W48, CrowdPose (K = 14): HRNet-W48 + DEKR head whose displacement branch adds ULSAM
# subspace attention (c = 16, g = 8); DEKR's heatmap loss (no SWAHR).
# Everything else is the W32 CrowdPose config's, with mmpose's W48 batch (8 x 5); what W48 changes
# is ../_base_/samkr_hrnet-w48_640.py (mmpose's dekr_hrnet-w48_8xb5-300e_crowdpose-640x640.py
# differs from its W32 config in the same values).
_base_ = ['./samkr_hrnet-w32_8xb10-300e_crowdpose-512x512.py', '../_base_/samkr_hrnet-w48_640.py']

auto_scale_lr = dict(base_batch_size=40)
codec = {{_base_.samkr_w48_codec}}
model = {{_base_.samkr_w48_model}}

# the W32 pipelines at 640
train_pipeline, val_pipeline = (
    [dict(step, **_base_.samkr_w48_step_args.get(step['type'], {})) for step in pipeline]
    for pipeline in (_base_.train_pipeline, _base_.val_pipeline))
train_dataloader = dict(batch_size=5, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=val_pipeline))
test_dataloader = val_dataloader
