"""The networks of one worker, composed: the detector (nets/detector.py), the pose estimator
(nets/pose.py) and, with HAND_MODEL_CONFIG, the hand estimator (nets/hands.py), loaded once, on the
device and with the batch sizes ``devices.resolve`` decided. The engine calls
``networks.detector``, ``networks.estimator`` and ``networks.hands`` directly.

Both run the models' own test pipelines and ``test_step``; the batched calls only collate
several frames (or person crops) into one forward pass, so they compute the same values.
"""
from dataclasses import dataclass
from typing import Optional

import numpy as np

from signpose.config import Models
from signpose.nets.detector import BatchedDetector
from signpose.nets.devices import Decided
from signpose.nets.hands import BatchedHandEstimator
from signpose.nets.loading import LoadedModels
from signpose.nets.pose import BatchedPoseEstimator
from signpose.speed.runtimes import RuntimeDetector, RuntimePoseEstimator


@dataclass
class Networks:
    detector: BatchedDetector
    estimator: BatchedPoseEstimator
    hands: Optional[BatchedHandEstimator] = None  # the hand pass (HAND_MODEL_CONFIG); None: no pass

    def warm_up(self) -> None:
        """One frame and one crop through each: a runtime exports (or loads) its networks now,
        not in the middle of the first video."""
        frame = np.zeros((480, 640, 3), dtype=np.uint8)
        self.detector.detect([frame])
        self.estimator.estimate([frame], [np.array([0, 0, 640, 480], dtype=np.float32)])
        if self.hands is not None:
            self.hands.estimate_hands([frame], [np.array([0, 0, 64, 64], dtype=np.float32)])


def build_networks(loaded: LoadedModels, models: Models, decided: Decided, runtime_cache: str,
                   speedups: bool = True, log=print) -> Networks:
    """The networks of loaded models. With BACKEND 'onnxruntime' or 'openvino' the networks run
    in that runtime (speed/runtimes.py, its files in ``runtime_cache``) and everything around them
    stays as here. The shared models are never changed for good: every switch (precision, rewrites,
    test configs) holds for one call."""
    det_network = pose_network = None
    if decided.backend != 'pytorch':
        det_network = RuntimeDetector(loaded.detector, decided.backend, runtime_cache, decided.cpu_threads, log)
        pose_network = RuntimePoseEstimator(loaded.pose, decided.backend, runtime_cache, decided.cpu_threads, log)
    detector = BatchedDetector(loaded.detector, loaded.device, models.det_cat_id, models.bbox_thr,
                               decided.precision, det_network, speedups)
    estimator = BatchedPoseEstimator(loaded.pose, loaded.device, decided.precision, decided.pose_batch_size,
                                     pose_network, speedups)
    hands = None
    if loaded.hand is not None:  # the hand pass: the pose model's device, precision, backend and rewrites
        hand_network = None
        if decided.backend != 'pytorch':
            hand_network = RuntimePoseEstimator(loaded.hand, decided.backend, runtime_cache, decided.cpu_threads,
                                                log, label='hand')
        source = (models.hand.config, models.hand.checkpoint) if models.hand is not None else ('', '')
        # both hands of each person of a pose batch go through the hand model in one call
        hands = BatchedHandEstimator(loaded.hand, loaded.device, decided.precision, 2 * decided.pose_batch_size,
                                     hand_network, speedups, source)
    return Networks(detector, estimator, hands)
