"""Detection and pose on batches: the two networks as the engine calls them
(nets/detector.py, nets/pose.py), loaded once per worker. The per-frame reference: engine/reference.py.

Both run the models' own test pipelines and ``test_step``; the batched calls only collate
several frames (or person crops) into one forward pass, so they compute the same values.
"""
from typing import List, Sequence

import numpy as np

from signpose.nets.detector import BatchedDetector
from signpose.nets.pose import BatchedPoseEstimator, Pose


def load_inference(settings, log=print):
    """Load both models once for a worker: (its settings as ``devices.resolve`` decides them, inference)."""
    from signpose.nets.devices import resolve
    from signpose.nets.loading import load_models
    settings = resolve(settings)  # the device, threads and batch sizes this worker runs with
    return settings, BatchedInference(load_models(settings, log=log), settings, log=log)


class BatchedInference:
    """The detector and the pose estimator of one worker, on the device its settings name.

    With BACKEND 'onnxruntime' or 'openvino' the two networks run in that runtime
    (nets/runtimes.py) and everything around them stays as here. The shared models are never
    changed for good: every switch (precision, rewrites, test configs) holds for one call.
    """

    def __init__(self, models, settings, speedups: bool = True, log=print):
        self.models, self.settings = models, settings
        det_network = pose_network = None
        if settings.BACKEND != 'pytorch':
            from signpose.nets.runtimes import RuntimeDetector, RuntimePoseEstimator
            det_network = RuntimeDetector(models.detector, settings, log)
            pose_network = RuntimePoseEstimator(models.pose, settings, log)
        self.detector = BatchedDetector(models.detector, settings, models.device, det_network, speedups)
        self.estimator = BatchedPoseEstimator(models.pose, settings, models.device, pose_network, speedups)
        if settings.BACKEND != 'pytorch':  # export or load the networks now, not in the middle of a video
            frame = np.zeros((480, 640, 3), dtype=np.uint8)
            self.detect([frame])
            self.pose([frame], [np.array([0, 0, 640, 480], dtype=np.float32)])

    # The host side (pipelines) and the device side (test_step) are separate calls, so that the
    # engine can prepare frames and crops in other threads while the networks run.
    def prepare_frame(self, frame: np.ndarray) -> dict:
        return self.detector.prepare(frame)

    def prepare_crop(self, frame: np.ndarray, box: np.ndarray) -> dict:
        return self.estimator.prepare(frame, box)

    def detect_prepared(self, data: Sequence[dict]) -> List[np.ndarray]:
        return self.detector(data)

    def pose_prepared(self, data: Sequence[dict]) -> List[Pose]:
        return self.estimator(data)

    def detect(self, frames: Sequence[np.ndarray]) -> List[np.ndarray]:
        return self.detector([self.detector.prepare(frame) for frame in frames])

    def pose(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> List[Pose]:
        return self.estimator([self.estimator.prepare(frame, box) for frame, box in zip(frames, boxes)])
