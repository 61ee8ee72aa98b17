"""The person detector on batches of frames: ``prepare`` one frame (the test pipeline: resize,
pad, to tensor; host side, any thread), then call on a batch of prepared frames (one ``test_step``):
the person boxes of each frame."""
import contextlib
import copy
from typing import List, Sequence

import numpy as np
import torch
from mmengine.dataset import Compose

from signpose.nets.precision import float32_heads, precision_context
from signpose.nets.speedups import Speedups


def person_boxes(det_sample, cat_id: int, bbox_thr: float) -> np.ndarray:
    """xyxy boxes (n, 4) of the detections of class ``cat_id`` scoring above ``bbox_thr``."""
    pred = det_sample.pred_instances
    keep = (pred.labels == cat_id) & (pred.scores > bbox_thr)
    return pred.bboxes[keep].cpu().numpy()


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


@contextlib.contextmanager
def non_blocking_copies(model, enabled: bool):
    """Page-locked inputs let the copies to the GPU run asynchronously: for this call only, the
    model's data preprocessor copies without waiting (restored after: the model is shared)."""
    preprocessor = model.data_preprocessor
    saved = preprocessor._non_blocking
    preprocessor._non_blocking = saved or enabled
    try:
        yield
    finally:
        preprocessor._non_blocking = saved


def pinned(tensors, cuda: bool) -> list:
    return [t.pin_memory() for t in tensors] if cuda else list(tensors)


class BatchedDetector:
    """RTMDet (any mmdet detector) as the stage calls it. ``network`` is what ``test_step`` runs on:
    the model, or its export in a runtime (nets/runtimes.py); pre- and post-processing stay the model's."""

    def __init__(self, model, settings, device: str, network=None, speedups: bool = True):
        from mmdet.utils import get_test_pipeline_cfg
        self.model, self.settings, self.device = model, settings, device
        self.network = network or model
        pipeline = get_test_pipeline_cfg(model.cfg.copy())
        pipeline[0].type = 'mmdet.LoadImageFromNDArray'
        self.pipeline = Compose(pipeline)
        self.pruned_cfgs = raised_score_thresholds(model, settings.BBOX_THR)
        # exact rewrites of parts of the network (nets/speedups.py); off: the model as shipped
        self.speedups = Speedups(model, None, device, settings.PRECISION, enabled=speedups and network is None)
        self.cuda = str(device).startswith('cuda')

    def prepare(self, frame: np.ndarray) -> dict:
        """The detector's test pipeline on one frame (resize, pad, to tensor)."""
        return self.pipeline(dict(img=frame, img_id=0))

    @torch.inference_mode()
    def __call__(self, prepared: Sequence[dict]) -> List[np.ndarray]:
        """Person boxes (n, 4) of each prepared frame: class DET_CAT_ID scoring above BBOX_THR."""
        batch = dict(inputs=pinned((d['inputs'] for d in prepared), self.cuda),
                     data_samples=[d['data_samples'] for d in prepared])
        s = self.settings
        with precision_context(s.PRECISION, self.device), float32_heads(self.model, None, s.PRECISION, self.device), \
                swapped_test_cfgs(self.pruned_cfgs), self.speedups.active(), non_blocking_copies(self.model, self.cuda):
            samples = self.network.test_step(batch)
        return [person_boxes(sample, s.DET_CAT_ID, s.BBOX_THR) for sample in samples]
