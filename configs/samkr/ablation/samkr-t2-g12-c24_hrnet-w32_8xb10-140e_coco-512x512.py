# SAMKR-W32 ablation, Table 2 row 12_SAMKR_24: g = 12, c = 24, s = 2 (m = 408; the converted table
# prints g = 8, the name and c = g*s say 12). Everything else is the main W32 config (= Table 1 row
# 4 and Table 2 row 8_SAMKR_16).
_base_ = ['../coco/samkr_hrnet-w32_8xb10-140e_coco-512x512.py']

model = dict(head=dict(num_displacement_filters_per_keypoint=24, num_subspaces=12))
