# SAMKR-W32 ablation, Table 2 row 8_SAMKR_8: g = 8, c = 8, s = 1 (m = 136). Everything else is the
# main W32 config (= Table 1 row 4 and Table 2 row 8_SAMKR_16).
_base_ = ['../coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py']

model = dict(head=dict(num_displacement_filters_per_keypoint=8, num_subspaces=8))
