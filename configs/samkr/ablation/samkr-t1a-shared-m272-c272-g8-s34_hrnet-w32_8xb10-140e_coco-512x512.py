# SAMKR-W32 ablation (COCO, HRNet-W32, SWAHR loss, schedule of the main model).
# Rows follow the list of Table 1 structures; Table 2 varies g (hence s) at c = 16.
# Table 1, row "shared single branch": one branch of c = m = 272 channels (no per-keypoint
# split), g = 8 subspaces of s = 34, dense 1x1 output conv.
# Displacement-branch structure: branch=shared, m=272, c=272, g=8, s=34.
_base_ = ['../coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py']

model = dict(
    head=dict(
        branch='shared',
        num_displacement_filters=272,
        num_displacement_filters_per_keypoint=272,
        num_subspaces=8,
        subspace_channels=34))
