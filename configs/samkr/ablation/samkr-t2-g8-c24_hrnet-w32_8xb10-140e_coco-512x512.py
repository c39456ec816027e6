# SAMKR-W32 ablation, Table 2 row 8_SAMKR_24: g = 8, c = 24, s = 3 (m = 408). Everything else is
# the main W32 config (= Table 1 row 4 and Table 2 row 8_SAMKR_16).
_base_ = ['../coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py']

model = dict(head=dict(num_displacement_filters_per_keypoint=24, num_subspaces=8))
