# RTMW3D-X (RTMPose3D): RTMW3D-L made wider and deeper. Inference config.
# Loads the official checkpoint rtmw3d-x_8xb64_cocktail14-384x288-b0a0eab7_20240626.pth strictly.
_base_ = ['./rtmw3d-l_8xb64_cocktail14-384x288.py']

model = dict(
    backbone=dict(deepen_factor=1.33, widen_factor=1.25),
    neck=dict(in_channels=[320, 640, 1280]),
    head=dict(in_channels=1280))
