"""The two networks of one worker, composed: the detector (nets/detector.py) and the pose
estimator (nets/pose.py), loaded once, on the device and with the batch sizes ``devices.resolve``
decided. The engine calls ``networks.detector`` and ``networks.estimator`` directly.

Both run the models' own test pipelines and ``test_step``; the batched calls only collate
several frames (or person crops) into one forward pass, so they compute the same values.
"""
from dataclasses import dataclass

import numpy as np

from signpose.config import Models
from signpose.nets.detector import BatchedDetector
from signpose.nets.devices import Decided
from signpose.nets.loading import LoadedModels
from signpose.nets.pose import BatchedPoseEstimator
from signpose.speed.runtimes import RuntimeDetector, RuntimePoseEstimator


@dataclass
class Networks:
    detector: BatchedDetector
    estimator: BatchedPoseEstimator

    def warm_up(self) -> None:
        """One frame and one crop through both: a runtime exports (or loads) its networks now,
        not in the middle of the first video."""
        frame = np.zeros((480, 640, 3), dtype=np.uint8)
        self.detector.detect([frame])
        self.estimator.estimate([frame], [np.array([0, 0, 640, 480], dtype=np.float32)])


def build_networks(loaded: LoadedModels, models: Models, decided: Decided, runtime_cache: str,
                   speedups: bool = True, log=print) -> Networks:
    """The networks of loaded models. With BACKEND 'onnxruntime' or 'openvino' the two networks run
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
    return Networks(detector, estimator)
