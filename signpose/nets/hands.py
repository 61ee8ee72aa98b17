"""The hand pass's network: a dedicated 21-keypoint hand model (HAND_MODEL_CONFIG, e.g. RTMPose-m
hand5 256x256) run on hand boxes cut from the original frame, both hands of many frames in one
batch (docs/hands.md). Loading: nets/loading.load_hand_model; the boxes and the fusion with the
whole-body keypoints: engine/hand_boxes.py, engine/hand_fusion.py.

It is the pose estimator's machinery (nets/pose.py) on another model: the model's own test pipeline
(GetBBoxCenterScale's padding, the square affine crop) and ``test_step``, under the same device,
PRECISION, BACKEND and exact rewrites as the pose model. So for the same boxes it computes what
mmpose's ``inference_topdown(hand_model, frame, boxes)`` computes.
"""
from typing import List, Sequence, Tuple

import numpy as np

from signpose.nets.pose import BatchedPoseEstimator

Hand = Tuple[np.ndarray, np.ndarray]  # image xy (21, 2) in pixels of the frame, raw scores (21,)


def hand_of(sample) -> Hand:
    """The (image xy, raw scores) of a hand model's data sample (one box)."""
    pred = sample.pred_instances
    return (np.asarray(pred.keypoints[0, :, :2], dtype=np.float32),
            np.asarray(pred.keypoint_scores[0], dtype=np.float32))


class BatchedHandEstimator(BatchedPoseEstimator):
    """The hand model as the engine calls it: ``prepare(frame, box)`` cuts one hand's crop (the
    model's test pipeline), ``__call__(prepared)`` estimates a batch of them.

    ``model``: the loaded hand model on ``device``; ``batch_size``: the crops the engine gives per
    call at most (both hands of a pose batch's persons); ``network``: the model, or its export in a
    runtime (speed/runtimes.py); ``source``: (config, checkpoint) file names, for the audit file.
    """

    def __init__(self, model, device: str, precision: str = 'fp32', batch_size: int = 2, network=None,
                 speedups: bool = True, source: Tuple[str, str] = ('', '')):
        super().__init__(model, device, precision, batch_size, network, speedups)
        self.source = source

    def __call__(self, prepared: Sequence[dict]) -> List[Hand]:
        """Each prepared hand crop's (image xy (21, 2), raw scores (21,)): the pose estimator's
        batched step (a lone crop computed as a pair, as there)."""
        return [hand_of(sample) for sample in self.samples(prepared)]

    def estimate_hands(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> List[Hand]:
        """Prepare and estimate in one call (tests, the API's images, warm-up)."""
        return self([self.prepare(frame, box) for frame, box in zip(frames, boxes)])
