"""The 3D whole-body pose estimator on batches of person crops: ``prepare`` one person box of a
frame (the top-down affine crop; host side, any thread), then call on a batch of prepared crops
(one ``test_step``): each person's image xy, root-relative z and scores."""
from typing import List, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope

from signpose.nets.devices import non_blocking_copies, pinned
from signpose.speed.precision import float32_heads, precision_context
from signpose.speed.speedups import Speedups

Pose = Tuple[np.ndarray, np.ndarray, np.ndarray]  # image xy (K, 2), root-relative z (K,), scores (K,)


def pose_of(pose_sample) -> Pose:
    """The first person's (image xy, root-relative z, score) from a pose data sample."""
    pred = pose_sample.pred_instances
    if 'keypoint_depths' in pred:
        depths = pred.keypoint_depths[0]
    else:  # a 2D top-down model: no depth
        depths = np.zeros(pred.keypoint_scores.shape[1], dtype=np.float32)
    xy = pred.transformed_keypoints[0] if 'transformed_keypoints' in pred else pred.keypoints[0, :, :2]
    return np.asarray(xy), np.asarray(depths), np.asarray(pred.keypoint_scores[0])


class BatchedPoseEstimator:
    """RTMW3D (any mmpose top-down model) as the stage calls it.

    ``model``: the loaded mmpose model, on ``device``; ``precision``: 'fp32', 'fp16' or 'bf16';
    ``batch_size``: the crops per call the engine gives (POSE_BATCH_SIZE as decided); ``network``:
    the model, or its export in a runtime (speed/runtimes.py; the crop and the codec stay the
    model's); ``speedups``: the exact rewrites of speed/speedups.py.
    """

    def __init__(self, model, device: str, precision: str = 'fp32', batch_size: int = 1, network=None,
                 speedups: bool = True):
        self.model, self.device, self.precision, self.batch_size = model, device, precision, batch_size
        self.network = network or model
        # the transforms are mmpose's whatever scope the last model built left as the default
        with DefaultScope.overwrite_default_scope(getattr(model.cfg, 'default_scope', None) or 'mmpose'):
            self.pipeline = Compose(model.cfg.test_dataloader.dataset.pipeline)
        self.meta = model.dataset_meta
        self.speedups = Speedups(None, model, device, precision, enabled=speedups and network is None)
        self.cuda = str(device).startswith('cuda')

    def prepare(self, frame: np.ndarray, box: np.ndarray) -> dict:
        """The pose model's test pipeline on one person box (the top-down affine crop)."""
        info = dict(img=frame, bbox=np.asarray(box, dtype=np.float32)[None], bbox_score=np.ones(1, dtype=np.float32))
        info.update(self.meta)
        return self.pipeline(info)

    @torch.inference_mode()
    def samples(self, prepared: Sequence[dict]) -> list:
        """One ``test_step`` on a batch of prepared crops: their data samples, in order."""
        # On the CPU a batch of one takes other kernels than larger batches, whose results are
        # the same for a crop whatever its neighbours: computing a lone crop as a pair keeps
        # every output independent of how frames happened to fall into batches (a resumed run
        # writes the same bits as an uninterrupted one).
        data = list(prepared)
        if not data:
            return []
        alone = len(data) == 1 and self.batch_size > 1
        batch = pseudo_collate(data * 2 if alone else data)
        batch['inputs'] = pinned(batch['inputs'], self.cuda)
        with precision_context(self.precision, self.device), \
                float32_heads(None, self.model, self.precision, self.device), \
                self.speedups.active(), non_blocking_copies(self.model, self.cuda):
            samples = self.network.test_step(batch)
        return samples[:len(data)]

    def __call__(self, prepared: Sequence[dict]) -> List[Pose]:
        """Each prepared crop's (image xy (133, 2), root-relative z (133,), raw scores (133,))."""
        return [pose_of(sample) for sample in self.samples(prepared)]

    def estimate(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> List[Pose]:
        """Prepare and estimate in one call (tests, warm-up)."""
        return self([self.prepare(frame, box) for frame, box in zip(frames, boxes)])
