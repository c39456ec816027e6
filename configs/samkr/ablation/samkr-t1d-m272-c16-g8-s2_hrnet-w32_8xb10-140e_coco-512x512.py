# SAMKR-W32 ablation (COCO, HRNet-W32, SWAHR loss, schedule of the main model).
# Rows follow the list of Table 1 structures; Table 2 varies g (hence s) at c = 16.
# Table 1, row "chosen structure" (= the main SAMKR-W32 model): K = 17 branches of c = 16,
# g = 8, s = 2.
# Displacement-branch structure: branch=per_keypoint, m=272, c=16, g=8, s=2.
_base_ = ['../coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py']

model = dict(
    head=dict(
        branch='per_keypoint',
        num_displacement_filters=272,
        num_displacement_filters_per_keypoint=16,
        num_subspaces=8,
        subspace_channels=2))
