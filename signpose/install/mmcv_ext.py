"""This file is ``mmcv._ext`` under mmcv-lite: the stage's one compiled op, NMS, in numpy and torch.

``signpose.install.mmcv_lite.install`` loads this file as ``mmcv._ext`` where mmcv has no compiled
ops. mmcv's op modules call ``load_ext('_ext', [names])`` when imported and assert that every name
exists: :func:`nms` is the one the stage's models use (RTMDet's post-processing: mmdet's
``batched_nms`` -> ``mmcv.ops.nms`` -> ``ext_module.nms``); every other name is a stand-in that
raises :class:`MissingOpError` when called (module ``__getattr__``).

:func:`nms` is mmcv 2.1.0's CPU NMS (``mmcv/ops/csrc/pytorch/cpu/nms.cpp``) as array arithmetic
(numpy for CPU tensors, torch on any other device): the same ``torch.sort`` of the scores (descending, so the
same order among equal scores), the same float32 expressions in the same order, the same
comparison ``inter / (area_i + area_j - inter) > iou_threshold`` with the threshold in float32 (as
pybind hands it to C++), ``std::max``/``std::min`` as the C++ writes them (NaN-safe the same way).
Its output equals the compiled CPU op's bit for bit (tests/test_mmcv_ext.py, against outputs
recorded from the compiled op; both the host and the device path).
"""
import sys
from typing import Dict, List

import numpy as np
import torch

from signpose.install.mmcv_lite import MissingOpError, missing_op_message

# the IoU of this many ranked boxes against the later ones is computed at once: a few MB per block
BLOCK_ROWS = 256


def _cxx_max(a, b):
    return torch.where(a < b, b, a)  # std::max(a, b) = (a < b) ? b : a


def _cxx_min(a, b):
    return torch.where(b < a, b, a)  # std::min(a, b) = (b < a) ? b : a


def _overlaps(x1, y1, x2, y2, areas, rows, cols, offset: int, threshold) -> np.ndarray:
    """``ovr > threshold`` of the boxes ``rows`` against the boxes ``cols`` (ranks), as the C++
    computes ``ovr`` for the pair: a (rows, cols) bool array on the host."""
    ix1, iy1, ix2, iy2, iarea = (v[rows, None] for v in (x1, y1, x2, y2, areas))
    jx1, jy1, jx2, jy2, jarea = (v[None, cols] for v in (x1, y1, x2, y2, areas))
    xx1, yy1 = _cxx_max(ix1, jx1), _cxx_max(iy1, jy1)
    xx2, yy2 = _cxx_min(ix2, jx2), _cxx_min(iy2, jy2)
    zero = torch.zeros((), dtype=x1.dtype, device=x1.device)
    w = _cxx_max(zero, xx2 - xx1 + offset)
    h = _cxx_max(zero, yy2 - yy1 + offset)
    inter = w * h
    ovr = inter / (iarea + jarea - inter)
    return (ovr > threshold).cpu().numpy()


def _kept_on_host(x1, y1, x2, y2, areas, offset: int, threshold) -> np.ndarray:
    """The C++ loop itself, with its inner loop as numpy (float32, the same expressions): each kept
    box against the later boxes still in. Ranks kept."""
    x1, y1, x2, y2, areas = (v.numpy() for v in (x1, y1, x2, y2, areas))
    alive = np.ones(len(x1), dtype=bool)
    for i in range(len(x1)):
        if not alive[i]:
            continue
        j = i + 1 + np.flatnonzero(alive[i + 1:])
        if j.size == 0:
            break
        xx1 = np.where(x1[i] < x1[j], x1[j], x1[i])  # std::max(ix1, x1[j])
        yy1 = np.where(y1[i] < y1[j], y1[j], y1[i])
        xx2 = np.where(x2[j] < x2[i], x2[j], x2[i])  # std::min(ix2, x2[j])
        yy2 = np.where(y2[j] < y2[i], y2[j], y2[i])
        w, h = xx2 - xx1 + offset, yy2 - yy1 + offset
        w = np.where(0 < w, w, np.float32(0))  # std::max(0.f, w)
        h = np.where(0 < h, h, np.float32(0))
        inter = w * h
        with np.errstate(divide='ignore', invalid='ignore'):  # degenerate boxes: 0/0, as the C++ (no warning)
            ovr = inter / (areas[i] + areas[j] - inter)
        alive[j[ovr > threshold]] = False
    return np.flatnonzero(alive)


def _kept_on_device(x1, y1, x2, y2, areas, offset: int, threshold) -> np.ndarray:
    """The same on the tensors' device, a block of ranks at a time (one kernel per expression
    instead of one per kept box: what a GPU wants); the greedy pass over each block on the host."""
    count = x1.numel()
    threshold = torch.tensor(threshold, device=x1.device)
    alive = np.ones(count, dtype=bool)
    for start in range(0, count, BLOCK_ROWS):
        rows = start + np.flatnonzero(alive[start:start + BLOCK_ROWS])
        if rows.size == 0:
            continue
        cols = start + np.flatnonzero(alive[start:])
        over = _overlaps(x1, y1, x2, y2, areas, torch.from_numpy(rows).to(x1.device),
                         torch.from_numpy(cols).to(x1.device), offset, threshold)
        for r, rank in enumerate(rows):  # a kept box removes the later ones it overlaps
            if alive[rank]:
                alive[cols[over[r] & (cols > rank)]] = False
    return np.flatnonzero(alive)


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int) -> torch.Tensor:
    """Indices (int64, on the boxes' device) of the boxes kept by greedy NMS, by descending score.

    ``boxes``: (N, 4) float32 ``x1, y1, x2, y2``; ``scores``: (N,) float32; a box is suppressed when
    its IoU with a kept, higher-ranked box is above ``iou_threshold``; ``offset`` (0 or 1) is added to
    widths and heights (``x2 - x1 + offset``). CPU tensors run the C++ loop in numpy; others on
    their device, by blocks. Both compare only boxes that are still in, as the C++ does."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    x1, y1, x2, y2 = (boxes[:, k].contiguous() for k in range(4))
    areas = (x2 - x1 + offset) * (y2 - y1 + offset)
    order = scores.sort(0, descending=True)[1]
    ranked = [v[order] for v in (x1, y1, x2, y2, areas)]  # by rank, as the C++ loop walks them
    threshold = np.float32(iou_threshold)  # the C++ float
    kept = (_kept_on_host if boxes.device.type == 'cpu' else _kept_on_device)(*ranked, offset, threshold)
    return order[torch.from_numpy(kept).to(boxes.device)]


class StandIn:
    """A compiled op this install does not have: raises, naming it, when called."""

    def __init__(self, op: str):
        self.op = op
        self.__name__ = op

    def __call__(self, *args, **kwargs):
        raise MissingOpError(missing_op_message(self.op))


# which mmcv.ops module asked for which ops as it was imported (signpose.install.mmcv_lite.missing_ops)
asked: Dict[str, List[str]] = {}


def __getattr__(name: str):
    if name.startswith('__') and name.endswith('__'):
        raise AttributeError(name)  # inspect, pickle and copy probe dunders: they must not exist
    # load_ext('_ext', names) asserts hasattr for each name while the op module is imported: the
    # frame two up is that module's body
    caller = sys._getframe(2).f_globals.get('__name__', '')
    if caller.startswith('mmcv.ops'):
        asked.setdefault(caller, []).append(name)
    return StandIn(name)
