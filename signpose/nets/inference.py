"""Detection and pose on batches of frames: the calls of the engine (the per-frame reference: engine/reference.py).

Both run the models' own test pipelines and ``test_step``; the batched calls only collate
several frames (or person crops) into one forward pass, so they compute the same values.
"""
import contextlib
import copy
from typing import List, Sequence, Tuple

import numpy as np
import torch
from mmengine.dataset import Compose, pseudo_collate

from signpose.nets.precision import float32_heads, precision_context
from signpose.nets.speedups import Speedups

Pose = Tuple[np.ndarray, np.ndarray, np.ndarray]  # image xy (K, 2), root-relative z (K,), scores (K,)


def person_boxes(det_sample, cat_id: int, bbox_thr: float) -> np.ndarray:
    """xyxy boxes (n, 4) of the detections of class ``cat_id`` scoring above ``bbox_thr``."""
    pred = det_sample.pred_instances
    keep = (pred.labels == cat_id) & (pred.scores > bbox_thr)
    return pred.bboxes[keep].cpu().numpy()


def pose_of(pose_sample) -> Pose:
    """The first person's (image xy, root-relative z, score) from a pose data sample."""
    pred = pose_sample.pred_instances
    if 'keypoint_depths' in pred:
        depths = pred.keypoint_depths[0]
    else:  # a 2D top-down model: no depth
        depths = np.zeros(pred.keypoint_scores.shape[1], dtype=np.float32)
    xy = pred.transformed_keypoints[0] if 'transformed_keypoints' in pred else pred.keypoints[0, :, :2]
    return np.asarray(xy), np.asarray(depths), np.asarray(pred.keypoint_scores[0])


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


def load_inference(settings, log=print):
    """Load both models once for a worker: (its settings as ``devices.resolve`` decides them, inference)."""
    from signpose.nets.devices import resolve
    from signpose.nets.loading import load_models
    settings = resolve(settings)  # the device, threads and batch sizes this worker runs with
    return settings, BatchedInference(load_models(settings, log=log), settings, log=log)


class BatchedInference:
    """The engine's calls: pipelines built once, several frames per ``test_step``.

    With BACKEND 'onnxruntime' or 'openvino' the two networks run in that runtime
    (signpose/runtimes.py) and everything around them stays as here.
    """

    def __init__(self, models, settings, speedups: bool = True, log=print):
        from mmdet.utils import get_test_pipeline_cfg
        self.models = models
        self.settings = settings
        self.backend = settings.BACKEND
        self.det_model, self.pose_model = models.detector, models.pose  # what ``test_step`` is called on
        det_pipeline = get_test_pipeline_cfg(models.detector.cfg.copy())
        det_pipeline[0].type = 'mmdet.LoadImageFromNDArray'
        self.det_pipeline = Compose(det_pipeline)
        self.pose_pipeline = Compose(models.pose.cfg.test_dataloader.dataset.pipeline)
        self.pose_meta = models.pose.dataset_meta
        self.pruned_cfgs = raised_score_thresholds(models.detector, settings.BBOX_THR)
        if self.backend != 'pytorch':
            from signpose.nets.runtimes import RuntimeDetector, RuntimePoseEstimator
            self.det_model = RuntimeDetector(models.detector, settings, log)
            self.pose_model = RuntimePoseEstimator(models.pose, settings, log)
            speedups = False  # they rewrite PyTorch modules, which do not run then
        # exact rewrites of parts of the networks (signpose/speedups.py); off: the models as shipped
        self.speedups = Speedups(models.detector, models.pose, models.device, settings.PRECISION, enabled=speedups)
        self.cuda = str(models.device).startswith('cuda')
        if self.cuda:  # page-locked host memory lets the copies to the GPU run asynchronously
            for model in (models.detector, models.pose):
                model.data_preprocessor._non_blocking = True
        if self.backend != 'pytorch':  # export or load the networks now, not in the middle of a video
            frame = np.zeros((480, 640, 3), dtype=np.uint8)
            self.detect([frame])
            self.pose([frame], [np.array([0, 0, 640, 480], dtype=np.float32)])

    def _inputs(self, tensors):
        return [t.pin_memory() for t in tensors] if self.cuda else list(tensors)

    # The host side (pipelines) and the device side (test_step) are separate calls, so that the
    # engine can prepare frames and crops in other threads while the networks run.
    def prepare_frame(self, frame: np.ndarray) -> dict:
        """The detector's test pipeline on one frame (resize, pad, to tensor)."""
        return self.det_pipeline(dict(img=frame, img_id=0))

    def prepare_crop(self, frame: np.ndarray, box: np.ndarray) -> dict:
        """The pose model's test pipeline on one person box (the top-down affine crop)."""
        info = dict(img=frame, bbox=np.asarray(box, dtype=np.float32)[None], bbox_score=np.ones(1, dtype=np.float32))
        info.update(self.pose_meta)
        return self.pose_pipeline(info)

    def detect(self, frames: Sequence[np.ndarray]) -> List[np.ndarray]:
        return self.detect_prepared([self.prepare_frame(frame) for frame in frames])

    def pose(self, frames: Sequence[np.ndarray], boxes: Sequence[np.ndarray]) -> List[Pose]:
        return self.pose_prepared([self.prepare_crop(frame, box) for frame, box in zip(frames, boxes)])

    @torch.inference_mode()
    def detect_prepared(self, data: Sequence[dict]) -> List[np.ndarray]:
        batch = dict(inputs=self._inputs(d['inputs'] for d in data),
                     data_samples=[d['data_samples'] for d in data])
        with precision_context(self.settings.PRECISION, self.models.device), \
                float32_heads(self.models.detector, None, self.settings.PRECISION, self.models.device), \
                swapped_test_cfgs(self.pruned_cfgs), self.speedups.active():
            samples = self.det_model.test_step(batch)
        return [person_boxes(s, self.settings.DET_CAT_ID, self.settings.BBOX_THR) for s in samples]

    @torch.inference_mode()
    def pose_prepared(self, data: Sequence[dict]) -> List[Pose]:
        # On the CPU a batch of one takes other kernels than larger batches, whose results are
        # the same for a crop whatever its neighbours: computing a lone crop as a pair keeps
        # every output independent of how frames happened to fall into batches (a resumed run
        # writes the same bits as an uninterrupted one).
        data = list(data)
        alone = len(data) == 1 and (self.settings.POSE_BATCH_SIZE or 1) > 1
        batch = pseudo_collate(data * 2 if alone else data)
        batch['inputs'] = self._inputs(batch['inputs'])
        with precision_context(self.settings.PRECISION, self.models.device), \
                float32_heads(None, self.models.pose, self.settings.PRECISION, self.models.device), \
                self.speedups.active():
            samples = self.pose_model.test_step(batch)
        return [pose_of(s) for s in samples[:len(data)]]
