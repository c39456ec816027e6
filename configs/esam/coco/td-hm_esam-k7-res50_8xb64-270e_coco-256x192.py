# ESAM-R50 with the earlier "fine-tuning AM": SAM is one 7x7 conv (CBAM-like), ESAM Table 1 row
# "7x7". Only the SAM kernels differ from the main config, so this model has 30.7 M parameters,
# not the 31.2 M the table prints: one 7x7 conv (49 + 1 weights) on the channel-mean map instead
# of two 3x3 convs (2 x (9 + 1)) adds 30 weights per attention stage, 120 in all. The 31.2 M (and its AP 71.4) is Table 2's
# "Fine-tuning AM [22]" network, whose up-sampling head is not ESAM's bilinear head; the paper
# does not describe that head, so this config varies only the kernel.
_base_ = ['./td-hm_esam-res50_8xb64-270e_coco-256x192.py']

model = dict(backbone=dict(sam_layout='k7'))
