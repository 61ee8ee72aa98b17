# RTMW3D-L (RTMPose3D), 133 COCO-WholeBody keypoints in 3D, input 288x384. Inference config.
# Loads the official checkpoint rtmw3d-l_8xb64_cocktail14-384x288-794dbc78_20240626.pth strictly.
# custom_imports registers the project's RTMW3D (the installed package signpose) into mmpose.
default_scope = 'mmpose'
custom_imports = dict(imports=['signpose.nets.rtmw3d'], allow_failed_imports=False)

input_w, input_h, input_d = 288, 384, 288
codec = dict(
    type='SimCC3DLabel',
    input_size=(input_w, input_h, input_d),
    sigma=(6., 6.93, 6.),
    simcc_split_ratio=2.0,
    normalize=False,
    use_dark=False,
    root_index=(11, 12))

widen, deepen, top_channels = 1.0, 1.0, 1024  # RTMW3D-L
model = dict(
    type='TopdownPoseEstimator3D',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(
        type='CSPNeXt',
        arch='P5',
        expand_ratio=0.5,
        deepen_factor=deepen,
        widen_factor=widen,
        channel_attention=True,
        norm_cfg=dict(type='BN'),
        act_cfg=dict(type='SiLU')),
    neck=dict(
        type='CSPNeXtPAFPN',
        in_channels=[top_channels // 4, top_channels // 2, top_channels],
        out_channels=None,
        out_indices=(1, 2),
        num_csp_blocks=2,
        expand_ratio=0.5,
        norm_cfg=dict(type='BN'),  # SyncBN in training; the same weights
        act_cfg=dict(type='SiLU', inplace=True)),
    head=dict(
        type='RTMW3DHead',
        in_channels=top_channels,
        out_channels=133,
        input_size=codec['input_size'],
        in_featuremap_size=tuple(s // 32 for s in codec['input_size']),
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
        decoder=codec),
    test_cfg=dict(flip_test=False, mode='3d'))

# H3WB: the 133 COCO-WholeBody keypoints (names, skeleton, flip pairs) for dataset_meta.
metainfo = dict(from_file='configs/_base_/datasets/h3wb.py')
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=(input_w, input_h)),
    dict(type='PackPoseInputs')
]
train_dataloader = dict(dataset=dict(metainfo=metainfo))
val_dataloader = dict(dataset=dict(metainfo=metainfo, test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
