# Test-time variant of td-hm_esam-res18-w16_1xb16-40e_coco-samples-128x96.py: the people are cropped
# at the provided person detections (COCO detection-result json, as with mmpose's
# COCO_val2017_detections_AP_H_56_person.json) instead of the ground-truth boxes.
#
#   mim test mmpose tests/configs/td-hm_esam-res18-w16_1xb16-40e_coco-samples-det-128x96.py \
#       --checkpoint work_dirs/td-hm_esam-res18-w16_1xb16-40e_coco-samples-128x96/epoch_40.pth
_base_ = ['./td-hm_esam-res18-w16_1xb16-40e_coco-samples-128x96.py']

val_dataloader = dict(
    dataset=dict(bbox_file='../shared/data/coco/detections/test_coco_det_AP_H_56.json'))
test_dataloader = val_dataloader
