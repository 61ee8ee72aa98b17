# RTMDet-M, the 80 COCO classes (person is class 0). The stage's default detector.
# Official checkpoint: rtmdet_m_8xb32-300e_coco_20220719_112220-229f527c.pth
_base_ = 'mmdet::rtmdet/rtmdet_m_8xb32-300e_coco.py'

model = dict(backbone=dict(init_cfg=None))  # weights come from the checkpoint, never a download
