"""The person detector on batches of frames: ``prepare`` one frame (the test pipeline: resize,
pad, to tensor; host side, any thread), then call on a batch of prepared frames (one ``test_step``):
the persons of each frame, their boxes and scores."""
import contextlib
import copy
from dataclasses import dataclass
from typing import List, Sequence

import numpy as np
import torch
from mmengine.dataset import Compose

from signpose.nets.devices import non_blocking_copies, pinned
from signpose.speed.precision import float32_heads, precision_context
from signpose.speed.speedups import Speedups


@dataclass
class Detections:
    """The persons the detector found in one frame, in the order of its output."""
    boxes: np.ndarray  # (n, 4) float32, xyxy image pixels
    scores: np.ndarray  # (n,) float32, each above BBOX_THR

    def __len__(self) -> int:
        return len(self.boxes)


def detections_of(det_sample, cat_id: int, bbox_thr: float) -> Detections:
    """The detections of class ``cat_id`` scoring above ``bbox_thr``."""
    pred = det_sample.pred_instances
    keep = (pred.labels == cat_id) & (pred.scores > bbox_thr)
    return Detections(pred.bboxes[keep].cpu().numpy(), pred.scores[keep].cpu().numpy())


def raised_score_thresholds(detector, threshold: float) -> list:
    """(module, test_cfg) pairs with every ``score_thr`` below ``threshold`` raised to it.

    The stage keeps only boxes scoring above BBOX_THR, and a box above it can only be
    suppressed or displaced by boxes scoring even higher, so discarding the candidates below
    before top-k, NMS and max_per_img leaves every kept box exactly as it was, while NMS no
    longer sorts thousands of irrelevant candidates. Works for any mmdet config: the test
    configs of the detector and of each of its heads are covered.
    """
    pairs = []
    for module in detector.modules():
        cfg = getattr(module, 'test_cfg', None)
        if cfg is None or not hasattr(cfg, 'items'):
            continue
        raised = copy.deepcopy(cfg)
        stack, changed = [raised], False
        while stack:
            node = stack.pop()
            for key, value in node.items():
                if key == 'score_thr' and isinstance(value, (int, float)) and value < threshold:
                    node[key], changed = threshold, True
                elif hasattr(value, 'items'):
                    stack.append(value)
        if changed:
            pairs.append((module, raised))
    return pairs


@contextlib.contextmanager
def swapped_test_cfgs(pairs: list):
    """Use the given test configs for the duration of the block."""
    saved = [(module, module.test_cfg) for module, _ in pairs]
    for module, cfg in pairs:
        module.test_cfg = cfg
    try:
        yield
    finally:
        for module, cfg in saved:
            module.test_cfg = cfg


class BatchedDetector:
    """RTMDet (any mmdet detector) as the stage calls it.

    ``model``: the loaded mmdet model, on ``device``; ``cat_id``, ``bbox_thr``: which detections are
    persons (DET_CAT_ID, BBOX_THR); ``precision``: 'fp32', 'fp16' or 'bf16'; ``network``: what
    ``test_step`` runs on, the model or its export in a runtime (speed/runtimes.py; pre- and
    post-processing stay the model's); ``speedups``: the exact rewrites of speed/speedups.py.
    """

    def __init__(self, model, device: str, cat_id: int, bbox_thr: float, precision: str = 'fp32',
                 network=None, speedups: bool = True):
        from mmdet.utils import get_test_pipeline_cfg
        self.model, self.device, self.cat_id, self.bbox_thr, self.precision = model, device, cat_id, bbox_thr, precision
        self.network = network or model
        pipeline = get_test_pipeline_cfg(model.cfg.copy())
        pipeline[0].type = 'mmdet.LoadImageFromNDArray'
        self.pipeline = Compose(pipeline)
        self.pruned_cfgs = raised_score_thresholds(model, bbox_thr)
        self.speedups = Speedups(model, None, device, precision, enabled=speedups and network is None)
        self.cuda = str(device).startswith('cuda')

    def prepare(self, frame: np.ndarray) -> dict:
        """The detector's test pipeline on one frame (resize, pad, to tensor)."""
        return self.pipeline(dict(img=frame, img_id=0))

    @torch.inference_mode()
    def __call__(self, prepared: Sequence[dict]) -> List[Detections]:
        """The persons of each prepared frame: class ``cat_id`` scoring above ``bbox_thr``."""
        batch = dict(inputs=pinned((d['inputs'] for d in prepared), self.cuda),
                     data_samples=[d['data_samples'] for d in prepared])
        with precision_context(self.precision, self.device), \
                float32_heads(self.model, None, self.precision, self.device), \
                swapped_test_cfgs(self.pruned_cfgs), self.speedups.active(), non_blocking_copies(self.model, self.cuda):
            samples = self.network.test_step(batch)
        return [detections_of(sample, self.cat_id, self.bbox_thr) for sample in samples]

    def detect(self, frames: Sequence[np.ndarray]) -> List[Detections]:
        """Prepare and detect in one call (tests, warm-up)."""
        return self([self.prepare(frame) for frame in frames])
