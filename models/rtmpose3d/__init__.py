"""RTMW3D (the 3D whole-body model of RTMPose3D), inference parts, registered into mmpose.

Importing this package registers ``SimCC3DLabel`` (codec), ``RTMW3DHead`` (head) and
``TopdownPoseEstimator3D`` (model) in mmpose's registries, and installs the project's safe
checkpoint loader, so ``mmpose.apis.init_model`` can load the project's RTMW3D configs and the
official checkpoints. The configs do this through ``custom_imports``.
"""
from signpose.checkpoints import install_safe_checkpoint_loader

from .codec import SimCC3DLabel
from .estimator import TopdownPoseEstimator3D
from .head import RTMW3DHead

install_safe_checkpoint_loader()

__all__ = ['SimCC3DLabel', 'RTMW3DHead', 'TopdownPoseEstimator3D']
