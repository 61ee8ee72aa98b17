"""This file is ``mmcv._ext`` under mmcv-lite: the stage's one compiled op, NMS, written in torch.

``signpose.nets.mmcv_lite.install`` loads this file as ``mmcv._ext`` where mmcv has no compiled
ops. mmcv's op modules call ``load_ext('_ext', [names])`` when imported and assert that every name
exists: :func:`nms` is the one the stage's models use (RTMDet's post-processing: mmdet's
``batched_nms`` -> ``mmcv.ops.nms`` -> ``ext_module.nms``); every other name is a stand-in that
raises :class:`MissingOpError` when called (module ``__getattr__``).

:func:`nms` is mmcv 2.1.0's CPU NMS (``mmcv/ops/csrc/pytorch/cpu/nms.cpp``) as tensor arithmetic,
on whatever device the boxes are on: the same ``torch.sort`` of the scores (descending, so the
same order among equal scores), the same float32 expressions in the same order, the same
comparison ``inter / (area_i + area_j - inter) > iou_threshold`` with the threshold in float32 (as
pybind hands it to C++), ``std::max``/``std::min`` as the C++ writes them (NaN-safe the same way).
On the CPU its output equals the compiled op's bit for bit (tests/test_mmcv_ext.py, against
outputs recorded from the compiled op).
"""
import sys
from typing import Dict, List

import numpy as np
import torch

from signpose.nets.mmcv_lite import MissingOpError, missing_op_message

# rows of the IoU matrix computed at once: bounds memory at 2048 x N float32 per block
BLOCK_ROWS = 2048


def _cxx_max(a, b):
    return torch.where(a < b, b, a)  # std::max(a, b) = (a < b) ? b : a


def _cxx_min(a, b):
    return torch.where(b < a, b, a)  # std::min(a, b) = (b < a) ? b : a


def _suppression_rows(x1, y1, x2, y2, areas, rows: slice, offset: int, threshold):
    """``ovr > threshold`` for the boxes ``rows`` (sorted order) against every box: a bool block."""
    ix1, iy1, ix2, iy2 = (v[rows, None] for v in (x1, y1, x2, y2))
    xx1, yy1 = _cxx_max(ix1, x1[None]), _cxx_max(iy1, y1[None])
    xx2, yy2 = _cxx_min(ix2, x2[None]), _cxx_min(iy2, y2[None])
    zero = torch.zeros((), dtype=x1.dtype, device=x1.device)
    w = _cxx_max(zero, xx2 - xx1 + offset)
    h = _cxx_max(zero, yy2 - yy1 + offset)
    inter = w * h
    ovr = inter / (areas[rows, None] + areas[None] - inter)
    return ovr > threshold


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int) -> torch.Tensor:
    """Indices (int64, on the boxes' device) of the boxes kept by greedy NMS, by descending score.

    ``boxes``: (N, 4) float32 ``x1, y1, x2, y2``; ``scores``: (N,) float32; a box is suppressed when
    its IoU with a kept, higher-ranked box is above ``iou_threshold``; ``offset`` (0 or 1) is added to
    widths and heights (``x2 - x1 + offset``)."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    x1, y1, x2, y2 = (boxes[:, k].contiguous() for k in range(4))
    areas = (x2 - x1 + offset) * (y2 - y1 + offset)
    order = scores.sort(0, descending=True)[1]
    # everything in sorted order from here on, as the C++ loop walks it
    x1, y1, x2, y2, areas = (v[order] for v in (x1, y1, x2, y2, areas))
    threshold = torch.tensor(np.float32(iou_threshold), device=boxes.device)  # C++ float
    count = order.numel()
    keep = np.ones(count, dtype=bool)
    for start in range(0, count, BLOCK_ROWS):
        rows = slice(start, min(start + BLOCK_ROWS, count))
        block = _suppression_rows(x1, y1, x2, y2, areas, rows, offset, threshold).cpu().numpy()
        # greedy, in rank order: a kept box suppresses every later box it overlaps
        for i in range(rows.start, rows.stop):
            if keep[i]:
                later = block[i - start, i + 1:]
                keep[i + 1:] &= ~later
    kept = torch.from_numpy(np.flatnonzero(keep)).to(boxes.device)
    return order[kept]


class StandIn:
    """A compiled op this install does not have: raises, naming it, when called."""

    def __init__(self, op: str):
        self.op = op
        self.__name__ = op

    def __call__(self, *args, **kwargs):
        raise MissingOpError(missing_op_message(self.op))


# which mmcv.ops module asked for which ops as it was imported (signpose.nets.mmcv_lite.missing_ops)
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
