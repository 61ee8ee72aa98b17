"""This file is ``mmcv._ext`` under mmcv-lite: the stage's one compiled op, NMS, in numpy and torch.

``signpose.install.mmcv_lite.install`` loads this file as ``mmcv._ext`` where mmcv has no compiled
ops. mmcv's op modules call ``load_ext('_ext', [names])`` when imported and assert that every name
exists: :func:`nms` is the one the stage's models use (RTMDet's post-processing: mmdet's
``batched_nms`` -> ``mmcv.ops.nms`` -> ``ext_module.nms``); every other name is a stand-in that
raises :class:`MissingOpError` when called (module ``__getattr__``).

:func:`nms` is mmcv 2.1.0's CPU NMS (``mmcv/ops/csrc/pytorch/cpu/nms.cpp``) as array arithmetic:
the same ``torch.sort`` of the scores (descending, so the same order among equal scores), the same
float32 expressions in the same order, the same comparison ``inter / (area_i + area_j - inter) >
iou_threshold`` with the threshold in float32 (as pybind hands it to C++), ``std::max``/``std::min``
as the C++ writes them (NaN-safe the same way). Its output equals the compiled CPU op's bit for bit
(tests/test_mmcv_ext.py, against outputs recorded from the compiled op; every path).

The C++ keeps a box iff no kept, higher-ranked box overlaps it above the threshold, and a pair's
``ovr`` does not depend on which boxes are still in: so the result is fixed by the pairs that
suppress, and these can be found in any order. CPU tensors (numpy): only pairs of boxes that
overlap at all can suppress (threshold >= 0), so a sweep finds those, their ``ovr`` is computed as
the C++ computes it, and a vectorised greedy pass over the pairs above the threshold gives the
kept boxes: a few ms for the thousands of candidates of a frame where the C++ compares every
pair. Where boxes overlap much (clusters of near-copies), dense blocks of the best ranks go first
and remove most of them, as the C++ skips them; a threshold below 0 or NaN (any pair can
suppress): dense blocks throughout. Other devices: dense blocks of ranks against the later ranks
still in, in torch on the boxes' device.
"""
import sys
from typing import Dict, List, Optional

import numpy as np
import torch

from signpose.install.mmcv_lite import MissingOpError, missing_op_message

# dense blocks: the IoU of this many ranked boxes against the later ones at once (a few MB a block)
BLOCK_ROWS = 256
# the sparse path (CPU): pairs of boxes compared at once (a few MB), and the pairs of boxes that
# overlap, per box, above which a dense block goes first: where boxes overlap that much (clusters
# of a detector's near-copies), the best-ranked ones remove most of the rest, and the C++ skips those
CHUNK_PAIRS = 1 << 17
PAIRS_PER_BOX = 64
# rounds of the vectorised greedy pass before the rest goes source by source (long chains of
# boxes that each suppress the next)
GREEDY_ROUNDS = 16


def _greedy(alive: np.ndarray, src: np.ndarray, dst: np.ndarray) -> None:
    """The C++'s greedy pass over the pairs that suppress, in place on ``alive`` (bool, by rank).

    ``src[k] < dst[k]`` (ranks): box ``src[k]`` removes box ``dst[k]`` if ``src[k]`` is kept. By
    rounds: a source that no remaining pair removes is kept, and removes its targets; pairs from or
    to removed boxes drop out. The highest-ranked source left is decided in every round; after
    ``GREEDY_ROUNDS`` the rest go source by source in rank order, as the C++ goes."""
    live = alive[src] & alive[dst]
    src, dst = src[live], dst[live]
    for _ in range(GREEDY_ROUNDS):
        if src.size == 0:
            return
        targeted = np.zeros(alive.size, dtype=bool)
        targeted[dst] = True
        sure = ~targeted[src]  # nothing left can remove the source: it is kept
        alive[dst[sure]] = False
        rest = ~sure & alive[src] & alive[dst]
        src, dst = src[rest], dst[rest]
    if src.size:
        by_source = np.argsort(src, kind='stable')
        src, dst = src[by_source], dst[by_source]
        starts = np.flatnonzero(np.r_[True, src[1:] != src[:-1]])
        for source, a, b in zip(src[starts].tolist(), starts.tolist(), np.r_[starts[1:], src.size].tolist()):
            if alive[source]:
                alive[dst[a:b]] = False


def _strips(lo: np.ndarray, hi: np.ndarray):
    """The strip of each box's ``lo`` and ``hi`` (``floor((v - base) / height)`` in float64: monotonic
    in ``v``): strips about twice the median box tall, taller where the boxes would need more than
    8 strips each on average."""
    lo, hi = lo.astype(np.float64), hi.astype(np.float64)
    base, span = lo.min(), hi.max() - lo.min()
    height = max(2 * float(np.median(hi - lo)), span / 256, 1e-30)
    while True:
        first, last = np.floor((lo - base) / height), np.floor((hi - base) / height)
        if (last - first).sum() <= 7 * lo.size or height >= span:
            return first.astype(np.int64), last.astype(np.int64)
        height *= 4


def _pairs_that_can_overlap(x1, y1, x2, y2, areas, offset: int):
    """Rank pairs ``(i, j)``, ``i < j``, among which are all those the C++ computes ``w > 0`` and
    ``h > 0`` for; None when they are more than ``PAIRS_PER_BOX`` per box.

    ``w = max(0, fl(fl(xx2 - xx1) + offset)) > 0`` needs ``xx1 < xx2 + offset`` exactly (rounding
    is monotonic, and 0 and ``-offset`` are floats), i.e. each box's ``x1`` below the other's
    ``x2 + offset``, hence ``x1 <= fl(x2 + offset)`` in float32; the same in y. Boxes whose area is
    not finite are left out: with a threshold >= 0 the C++ never suppresses with them or them
    (their ``ovr`` is 0, -0 or NaN), and the others' coordinates are finite.

    The boxes go into horizontal strips (each into every strip its ``[y1, y2 + offset]`` meets); in
    each strip, sorted by ``x1``, a box is paired with the later ones that start before its
    ``x2 + offset``. A pair is kept in one strip, the one holding the larger ``y1`` (both boxes
    meet it when they meet in y), and only if the boxes meet in y."""
    off = np.float32(offset)
    bx, by = x2 + off, y2 + off
    boxes = np.flatnonzero(np.isfinite(areas) & (x1 <= bx) & (y1 <= by))
    none = np.empty(0, np.int64)
    if boxes.size < 2:
        return none, none
    first, last = _strips(y1[boxes], by[boxes])
    top = np.zeros(x1.size, np.int64)
    top[boxes] = first  # the strip of each box's y1
    # the boxes' entries, one per strip they meet, by strip, then x1
    counts = last - first + 1
    entry_box = np.repeat(boxes, counts)
    entry_strip = np.repeat(first - np.cumsum(counts) + counts, counts) + np.arange(entry_box.size)
    ordered = np.lexsort((x1[entry_box], entry_strip))
    entry_box, entry_strip = entry_box[ordered], entry_strip[ordered]
    # each entry's run of later entries in its strip that start before it ends, by a sort key
    # that orders the strips, then x1 (monotonic: x1 <= x2 + offset stays <= on the key)
    base = float(x1[boxes].min())
    width = 2 * (float(bx[boxes].max()) - base) + 1
    strip_key = entry_strip * width - base
    ends = np.searchsorted(strip_key + x1[entry_box], strip_key + bx[entry_box], side='right')
    runs = ends - np.arange(1, entry_box.size + 1)
    if runs.sum() > PAIRS_PER_BOX * boxes.size:
        return None
    # a pair in its strip: they meet in y, and the strip holds the y1 of one of them (both strips
    # of y1 are at most this one: the larger is this one)
    low, high = y1[entry_box], by[entry_box]
    home = entry_strip == top[entry_box]
    pairs = [(none, none)]
    done = np.cumsum(runs)
    cut = 0
    while cut < entry_box.size:  # the runs of entries cut .. stop-1: about CHUNK_PAIRS pairs
        stop = max(int(np.searchsorted(done, done[cut] - runs[cut] + CHUNK_PAIRS, side='right')), cut + 1)
        run = runs[cut:stop]
        # the later entry of each pair: the run after each entry
        later = np.arange(cut + 1, cut + 1 + int(run.sum()), dtype=np.int64) + np.repeat(
            np.arange(cut, stop) - cut - np.cumsum(run) + run, run)
        # (x1 of the earlier <= x1 of the later <= its x2 + offset: sorted, and its own condition)
        keep = ((low[later] <= np.repeat(high[cut:stop], run)) & (np.repeat(low[cut:stop], run) <= high[later])
                & (np.repeat(home[cut:stop], run) | home[later]))
        hit = np.flatnonzero(keep)
        p, q = entry_box[np.repeat(np.arange(cut, stop), run)[hit]], entry_box[later[hit]]
        pairs.append((np.minimum(p, q), np.maximum(p, q)))
        cut = stop
    return np.concatenate([p for p, _ in pairs]), np.concatenate([q for _, q in pairs])


def _suppresses(x1, y1, x2, y2, areas, i, j, offset: int, threshold) -> np.ndarray:
    """``ovr > threshold`` of the C++ for the rank pairs ``(i, j)``, ``i < j``, of boxes with finite
    coordinates, in its float32 expressions and order (``np.maximum``/``np.minimum`` are
    ``std::max``/``std::min`` where there is no NaN; where they pick the other of two signed zeros,
    ``w`` and ``h`` come out the same)."""
    off = np.float32(offset)
    zero = np.float32(0)
    w = np.maximum(zero, np.minimum(x2[i], x2[j]) - np.maximum(x1[i], x1[j]) + off)
    h = np.maximum(zero, np.minimum(y2[i], y2[j]) - np.maximum(y1[i], y1[j]) + off)
    inter = w * h
    with np.errstate(divide='ignore', invalid='ignore', over='ignore'):
        ovr = inter / (areas[i] + areas[j] - inter)
    return ovr > threshold


def _kept_sparse(x1, y1, x2, y2, areas, offset: int, threshold) -> Optional[np.ndarray]:
    """Which of the boxes (numpy arrays by rank, threshold >= 0) the C++ keeps: the pairs that
    overlap at all, the C++'s ``ovr`` of those, the greedy pass over the ones above the threshold.
    None where the boxes overlap too much for it."""
    pairs = _pairs_that_can_overlap(x1, y1, x2, y2, areas, offset)
    if pairs is None:
        return None
    i, j = pairs
    hit = _suppresses(x1, y1, x2, y2, areas, i, j, offset, threshold)
    alive = np.ones(x1.size, dtype=bool)
    _greedy(alive, i[hit], j[hit])
    return alive


def _kept_on_host(x1, y1, x2, y2, areas, offset: int, threshold) -> np.ndarray:
    """Ranks kept (numpy arrays by rank): the sparse path for the ranks still in from ``start`` on,
    once that is cheap; until then dense blocks of ranks from the best (each removes what its
    kept boxes overlap, as the C++ does). A threshold below 0 or NaN: dense blocks throughout."""
    arrays = (x1, y1, x2, y2, areas)
    tensors = [torch.from_numpy(v) for v in arrays]
    alive = np.ones(x1.size, dtype=bool)
    start, looked = 0, None
    while start < alive.size:
        rest = start + np.flatnonzero(alive[start:])
        if threshold >= 0 and (looked is None or rest.size < 0.9 * looked):  # look again once 10% are gone
            looked = rest.size
            kept = _kept_sparse(*(v[rest] for v in arrays), offset, threshold)
            if kept is not None:
                alive[rest[~kept]] = False
                break
        start = _dense_block(tensors, alive, start, offset, torch.tensor(threshold))
    return np.flatnonzero(alive)


def _cxx_max(a, b):
    return torch.where(a < b, b, a)  # std::max(a, b) = (a < b) ? b : a


def _cxx_min(a, b):
    return torch.where(b < a, b, a)  # std::min(a, b) = (b < a) ? b : a


def _overlaps(x1, y1, x2, y2, areas, rows, cols, offset: int, threshold) -> torch.Tensor:
    """``ovr > threshold`` of the boxes ``rows`` against the boxes ``cols`` (ranks), as the C++
    computes ``ovr`` for the pair: a (rows, cols) bool tensor on the boxes' device."""
    ix1, iy1, ix2, iy2, iarea = (v.index_select(0, rows)[:, None] for v in (x1, y1, x2, y2, areas))
    jx1, jy1, jx2, jy2, jarea = (v.index_select(0, cols)[None, :] for v in (x1, y1, x2, y2, areas))
    xx1, yy1 = _cxx_max(ix1, jx1), _cxx_max(iy1, jy1)
    xx2, yy2 = _cxx_min(ix2, jx2), _cxx_min(iy2, jy2)
    zero = torch.zeros((), dtype=x1.dtype, device=x1.device)
    w = _cxx_max(zero, xx2 - xx1 + offset)
    h = _cxx_max(zero, yy2 - yy1 + offset)
    inter = w * h
    ovr = inter / (iarea + jarea - inter)
    return ovr > threshold


def _dense_block(tensors, alive: np.ndarray, start: int, offset: int, threshold: torch.Tensor) -> int:
    """The ranks still in from ``start`` to ``start + BLOCK_ROWS`` against those still in from
    ``start`` on, in place on ``alive``, one kernel per expression on the tensors' device. The
    block's own pairs go to the host for the greedy pass inside the block; its kept boxes then
    remove the later ones they overlap, on the device. Returns where the next block starts."""
    device = tensors[0].device
    rows = start + np.flatnonzero(alive[start:start + BLOCK_ROWS])
    if rows.size:
        cols = start + np.flatnonzero(alive[start:])  # the block's rows, then the later ones
        over = _overlaps(*tensors, torch.from_numpy(rows).to(device), torch.from_numpy(cols).to(device),
                         offset, threshold)
        r, c = np.nonzero(np.triu(over[:, :rows.size].cpu().numpy(), 1))
        inside = np.ones(rows.size, dtype=bool)
        _greedy(inside, r, c)
        alive[rows[~inside]] = False
        if cols.size > rows.size:
            gone = over[torch.from_numpy(inside).to(device), rows.size:].any(0).cpu().numpy()
            alive[cols[rows.size:][gone]] = False
    return start + BLOCK_ROWS


def _kept_dense(x1, y1, x2, y2, areas, offset: int, threshold) -> np.ndarray:
    """Ranks kept (tensors by rank, on any device): dense blocks of ranks throughout (what a GPU
    wants)."""
    threshold = torch.tensor(threshold, device=x1.device)
    alive = np.ones(x1.numel(), dtype=bool)
    start = 0
    while start < alive.size:
        start = _dense_block((x1, y1, x2, y2, areas), alive, start, offset, threshold)
    return np.flatnonzero(alive)


def _nms_on_host(boxes: torch.Tensor, scores: torch.Tensor, threshold, offset: int) -> torch.Tensor:
    """CPU tensors: numpy (no torch indexing: its threads cost more than the work here)."""
    order = scores.sort(0, descending=True)[1].numpy()
    ranked = boxes.detach().numpy()[order]  # by rank, as the C++ loop walks them
    x1, y1, x2, y2 = (np.ascontiguousarray(ranked[:, k]) for k in range(4))
    off = np.float32(offset)
    with np.errstate(over='ignore', invalid='ignore'):  # the C++ does not warn either
        areas = (x2 - x1 + off) * (y2 - y1 + off)  # its float32 areas
    return torch.from_numpy(order[_kept_on_host(x1, y1, x2, y2, areas, offset, threshold)])


def _nms_on_device(boxes: torch.Tensor, scores: torch.Tensor, threshold, offset: int) -> torch.Tensor:
    """Tensors on any other device: dense blocks there."""
    x1, y1, x2, y2 = (boxes[:, k].contiguous() for k in range(4))
    areas = (x2 - x1 + offset) * (y2 - y1 + offset)
    order = scores.sort(0, descending=True)[1]
    ranked = (v.index_select(0, order) for v in (x1, y1, x2, y2, areas))
    kept = _kept_dense(*ranked, offset, threshold)
    return order.index_select(0, torch.from_numpy(kept).to(boxes.device))


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float, offset: int) -> torch.Tensor:
    """Indices (int64, on the boxes' device) of the boxes kept by greedy NMS, by descending score.

    ``boxes``: (N, 4) float32 ``x1, y1, x2, y2``; ``scores``: (N,) float32; a box is suppressed when
    its IoU with a kept, higher-ranked box is above ``iou_threshold``; ``offset`` (0 or 1) is added to
    widths and heights (``x2 - x1 + offset``). CPU tensors in numpy (the sparse path), others on
    their device (dense blocks)."""
    if boxes.numel() == 0:
        return torch.empty(0, dtype=torch.long, device=boxes.device)
    threshold = np.float32(iou_threshold)  # the C++ float
    on_host = boxes.device.type == 'cpu'
    return (_nms_on_host if on_host else _nms_on_device)(boxes, scores, threshold, offset)


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
