# RTMPose-m hand5 (COCO-WholeBody-Hand, OneHand10K, FreiHand2d, RHD2d, Halpe), 21 hand keypoints,
# input 256x256. Inference config of mmpose 1.3.2's
# configs/hand_2d_keypoint/rtmpose/hand5/rtmpose-m_8xb256-210e_hand5-256x256.py: the same model,
# codec and test pipeline, self-contained (no _base_, nothing to download but the checkpoint).
# Loads the official checkpoint rtmpose-m_simcc-hand5_pt-aic-coco_210e-256x256-74fb594_20230320.pth
# strictly (HAND_MODEL_CHECKPOINT_LINK in configs/extract_mmpose.py).
#
# Two differences from the training config, neither changing a weight:
# - BN instead of SyncBN (SyncBN is for multi-GPU training; the same parameters and buffers);
# - flip_test=False (the official evaluation flips each crop and averages: twice the cost of the
#   hand pass, for a small gain, and BACKEND='onnxruntime' / 'openvino' cannot run it). Set
#   model.test_cfg.flip_test=True in a copy of this file for the official evaluation's setting
#   (BACKEND='pytorch' only); docs/hands.md.
default_scope = 'mmpose'

codec = dict(
    type='SimCCLabel',
    input_size=(256, 256),
    sigma=(5.66, 5.66),
    simcc_split_ratio=2.0,
    normalize=False,
    use_dark=False)

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        _scope_='mmdet',
        type='CSPNeXt',
        arch='P5',
        expand_ratio=0.5,
        deepen_factor=0.67,
        widen_factor=0.75,
        out_indices=(4, ),
        channel_attention=True,
        norm_cfg=dict(type='BN'),  # SyncBN in training; the same weights
        act_cfg=dict(type='SiLU')),
    head=dict(
        type='RTMCCHead',
        in_channels=768,
        out_channels=21,
        input_size=codec['input_size'],
        in_featuremap_size=tuple([s // 32 for s in codec['input_size']]),
        simcc_split_ratio=codec['simcc_split_ratio'],
        final_layer_kernel_size=7,
        gau_cfg=dict(
            hidden_dims=256,
            s=128,
            expansion_factor=2,
            dropout_rate=0.,
            drop_path=0.,
            act_fn='SiLU',
            use_rel_bias=False,
            pos_enc=False),
        loss=dict(
            type='KLDiscretLoss',
            use_target_weight=True,
            beta=10.,
            label_softmax=True),
        decoder=codec),
    test_cfg=dict(flip_test=False))

# COCO-WholeBody-Hand: the 21 hand keypoints, in the order of COCO-WholeBody's 91-111 and 112-132
metainfo = dict(from_file='configs/_base_/datasets/coco_wholebody_hand.py')
# the test pipeline of the training config: the box padded by GetBBoxCenterScale's 1.25, as in
# training, and cut square at 256x256 (TopdownAffine keeps the aspect ratio of the input)
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
