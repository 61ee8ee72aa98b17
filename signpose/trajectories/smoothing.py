"""One segment's array in, the processed array out: short gaps filled, then each keypoint's runs
of present (or filled) frames smoothed with its part's settings.

What changes and what does not:
    x, y, z     of present and filled points: filtered; x, y clipped to [0, 1] (``clip``), z to
                the range RTMW3D decodes (+-Z_RANGE m)
    visibility  of present points: unchanged (the measured score); of filled points: the
                convention of gaps.py (``filled_visibility`` x the lower neighbour)
    missing points outside a filled gap (long gaps, gaps at the ends): the input's values,
                untouched (an all-zero row stays all zeros)
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from signpose.trajectories import filters
from signpose.trajectories.gaps import Gap, fill_gaps, find_gaps, missing_points, runs
from signpose.trajectories.parts import STAGE_COCO_IDX, part_parameters, part_rows

METHODS = ('savgol', 'oneeuro', 'oneeuro2', 'none')
DEFAULT_METHOD = 'savgol'
DEFAULT_FPS = 24.0  # the stage's sampling rate
DEFAULT_MAX_GAP = 6  # frames: a quarter second at 24 fps
DEFAULT_SCORE_FLOOR = 0.3  # the stage's KPT_THR: below it a point counts as missing
DEFAULT_FILLED_VISIBILITY = 0.5
Z_RANGE = 2.1744869  # metres: RTMW3D's z range around the root (signpose/nets/rtmw3d/codec.py)
WEIGHT_POWER = 2  # weight = visibility ** 2: noise that grows as the score falls, as inverse variance


@dataclass
class Smoothing:
    """How an array is processed (every field is recorded in the folder's record)."""
    method: str = DEFAULT_METHOD
    max_gap: int = DEFAULT_MAX_GAP
    score_floor: float = DEFAULT_SCORE_FLOOR
    fill: str = 'pchip'
    filled_visibility: float = DEFAULT_FILLED_VISIBILITY
    weighted: bool = True
    fps: float = DEFAULT_FPS
    parts: Optional[Dict[str, dict]] = None  # overrides of the per-part settings {part: {name: value}}

    def check(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f'method {self.method!r}: one of {", ".join(METHODS)}')
        if self.max_gap < 0:
            raise ValueError(f'max_gap must be >= 0 frames, not {self.max_gap}')
        if not 0 <= self.score_floor <= 1:
            raise ValueError(f'score_floor must be in [0, 1], not {self.score_floor}')
        if not 0 <= self.filled_visibility <= 1:
            raise ValueError(f'filled_visibility must be in [0, 1], not {self.filled_visibility}')
        if not self.fps > 0:
            raise ValueError(f'fps must be > 0, not {self.fps}')
        self.part_parameters()

    def part_parameters(self) -> Dict[str, dict]:
        return {} if self.method == 'none' else part_parameters(self.method, self.parts)

    def min_frames(self) -> int:
        """Segments with fewer frames are copied unfiltered: the widest Savitzky-Golay window of
        the parts (for One Euro, the Savitzky-Golay default's, so every method copies the same
        short segments)."""
        method = self.method if self.method == 'savgol' else 'savgol'
        overrides = self.parts if self.method == 'savgol' else None
        return max(values['window'] for values in part_parameters(method, overrides).values())

    def record(self) -> dict:
        return dict(method=self.method, max_gap_frames=self.max_gap, score_floor=self.score_floor,
                    fill=self.fill, filled_visibility=self.filled_visibility, weighted=self.weighted,
                    weight=f'visibility ** {WEIGHT_POWER}' if self.weighted else None, fps=self.fps,
                    min_frames=self.min_frames(), parts=self.part_parameters())


@dataclass
class Result:
    array: np.ndarray  # (T, N, C) float32
    filled: np.ndarray  # (T, N) bool
    gaps: List[Gap] = field(default_factory=list)
    short: bool = False  # fewer frames than min_frames: copied unfiltered

    def counts(self, max_gap: int) -> dict:
        filled = [g for g in self.gaps if g.bounded and g.length <= max_gap] if not self.short else []
        left = [g for g in self.gaps if g not in filled]
        return dict(points_filled=int(self.filled.sum()), gaps_filled=len(filled), gaps_left=len(left),
                    points_left_missing=int(sum(g.length for g in left)))


def process_array(array: np.ndarray, smoothing: Optional[Smoothing] = None,
                  coco_idx: Sequence[int] = STAGE_COCO_IDX, clip: bool = True) -> Result:
    """The processing of ``smooth_array``, with the gaps found and whether it was short."""
    smoothing = smoothing or Smoothing()
    smoothing.check()
    array = np.asarray(array)
    if array.ndim != 3 or array.shape[1] != len(coco_idx) or array.shape[2] not in (3, 4):
        raise ValueError(f'array has shape {array.shape}, not (T, {len(coco_idx)}, 4 or 3)')
    missing = missing_points(array, smoothing.score_floor)
    if len(array) < smoothing.min_frames():
        return Result(np.array(array, np.float32), np.zeros(missing.shape, bool), find_gaps(missing), short=True)
    out, filled, gaps = fill_gaps(array, missing, smoothing.max_gap, smoothing.fill, smoothing.filled_visibility)
    active = ~missing | filled
    if smoothing.method != 'none':
        weights = None
        if smoothing.weighted and out.shape[2] >= 4:
            weights = np.clip(out[..., 3].astype(np.float64), 0, 1) ** WEIGHT_POWER
        smoothed = smooth_positions(out[..., :3], active, weights, smoothing, coco_idx)
        out[..., :3] = np.where(active[..., None], smoothed, out[..., :3])
    if clip:
        out[..., :2] = np.where(active[..., None], np.clip(out[..., :2], 0, 1), out[..., :2])
        out[..., 2] = np.where(active, np.clip(out[..., 2], -Z_RANGE, Z_RANGE), out[..., 2])
    return Result(out.astype(np.float32), filled, gaps)


def smooth_positions(xyz: np.ndarray, active: np.ndarray, weights: Optional[np.ndarray], smoothing: Smoothing,
                     coco_idx: Sequence[int]) -> np.ndarray:
    """x, y, z (T, N, 3) filtered per part; values where ``active`` is False come back unchanged."""
    parameters = smoothing.part_parameters()
    rows = part_rows(coco_idx)
    if smoothing.method == 'savgol':
        out = xyz.astype(np.float64)
        for part, positions in rows.items():
            window, order = parameters[part]['window'], parameters[part]['polyorder']
            for point in positions:
                for start, stop in runs(active[:, point]):
                    w = None if weights is None else weights[start:stop, point]
                    out[start:stop, point] = filters.savgol(xyz[start:stop, point], window, order, w)
        return out
    per_point = {name: np.zeros(xyz.shape[1]) for name in ('min_cutoff', 'beta', 'd_cutoff')}
    for part, positions in rows.items():
        for name in per_point:
            per_point[name][positions] = parameters[part][name]
    if weights is not None:  # relative to the point's usual confidence: its smoothing hold at that confidence
        usual = np.array([np.median(weights[active[:, p], p]) if active[:, p].any() else 1.0
                          for p in range(weights.shape[1])])
        weights = np.clip(weights / np.maximum(usual, filters.MIN_WEIGHT), 0, 1)
    run = filters.one_euro if smoothing.method == 'oneeuro' else filters.one_euro_forward_backward
    return run(xyz, active, smoothing.fps, per_point['min_cutoff'], per_point['beta'], per_point['d_cutoff'], weights)


def smooth_array(array: np.ndarray, method: str = DEFAULT_METHOD, *, max_gap: int = DEFAULT_MAX_GAP,
                 score_floor: float = DEFAULT_SCORE_FLOOR, fill: str = 'pchip',
                 filled_visibility: float = DEFAULT_FILLED_VISIBILITY, weighted: bool = True,
                 fps: float = DEFAULT_FPS, parts: Optional[Dict[str, dict]] = None,
                 coco_idx: Sequence[int] = STAGE_COCO_IDX, clip: bool = True):
    """A stage array (T, N, 4 or 3) -> (processed float32 array of the same shape, (T, N) bool mask
    of the filled values). The input is not modified. ``method``: 'savgol' (default), 'oneeuro',
    'oneeuro2' (forward-backward) or 'none' (fill gaps only); ``parts`` overrides per-part
    smoothing, e.g. {'hands': {'window': 7}}. A segment shorter than the method's window comes back
    unchanged (an all-False mask). docs/trajectories.md has the details."""
    smoothing = Smoothing(method=method, max_gap=max_gap, score_floor=score_floor, fill=fill,
                        filled_visibility=filled_visibility, weighted=weighted, fps=fps, parts=parts)
    result = process_array(array, smoothing, coco_idx, clip)
    return result.array, result.filled
