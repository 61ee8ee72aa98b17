"""RTMW3D (the 3D whole-body model of RTMPose3D), inference parts, registered into mmpose.

Importing this package registers ``SimCC3DLabel`` (codec), ``RTMW3DHead`` (head) and
``TopdownPoseEstimator3D`` (model) in mmpose's registries and does nothing else, so
``mmpose.apis.init_model`` can build the project's RTMW3D configs (they import it through
``custom_imports``). Loading official checkpoints: ``signpose.nets.loading.load_pose_model``.
"""
from .codec import SimCC3DLabel
from .estimator import TopdownPoseEstimator3D
from .head import RTMW3DHead

__all__ = ['SimCC3DLabel', 'RTMW3DHead', 'TopdownPoseEstimator3D']
