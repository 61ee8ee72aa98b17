"""The two networks of one worker, composed: the detector (nets/detector.py) and the pose
estimator (nets/pose.py), loaded once, on the device and with the batch sizes ``devices.resolve``
decided. The engine calls ``networks.detector`` and ``networks.estimator`` directly.

Both run the models' own test pipelines and ``test_step``; the batched calls only collate
several frames (or person crops) into one forward pass, so they compute the same values.
"""
from dataclasses import dataclass

import numpy as np

from signpose.config import Settings
from signpose.nets.detector import BatchedDetector
from signpose.nets.devices import Decided, resolve
from signpose.nets.loading import LoadedModels, load_models
from signpose.nets.pose import BatchedPoseEstimator
from signpose.nets.runtimes import RuntimeDetector, RuntimePoseEstimator


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


def build_networks(models: LoadedModels, settings: Settings, decided: Decided, speedups: bool = True,
                   log=print) -> Networks:
    """The networks of loaded models. With BACKEND 'onnxruntime' or 'openvino' the two networks run
    in that runtime (nets/runtimes.py) and everything around them stays as here. The shared models
    are never changed for good: every switch (precision, rewrites, test configs) holds for one call."""
    det_network = pose_network = None
    if decided.backend != 'pytorch':
        cache = settings.RUNTIME_CACHE
        det_network = RuntimeDetector(models.detector, decided.backend, cache, decided.cpu_threads, log)
        pose_network = RuntimePoseEstimator(models.pose, decided.backend, cache, decided.cpu_threads, log)
    detector = BatchedDetector(models.detector, models.device, settings.DET_CAT_ID, settings.BBOX_THR,
                               decided.precision, det_network, speedups)
    estimator = BatchedPoseEstimator(models.pose, models.device, decided.precision, decided.pose_batch_size,
                                     pose_network, speedups)
    return Networks(detector, estimator)


def load_networks(settings: Settings, log=print):
    """A worker's start: (what ``devices.resolve`` decided for it, its networks, warmed up when they
    run in a runtime)."""
    decided = resolve(settings)
    networks = build_networks(load_models(settings, decided, log=log), settings, decided, log=log)
    if decided.backend != 'pytorch':
        networks.warm_up()
    return decided, networks
