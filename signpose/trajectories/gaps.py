"""Missing keypoints and the short gaps between present ones: found per keypoint, filled by
interpolation when short, left as they are when long.

A keypoint is *missing* in a frame when all its values are 0 (the stage writes an all-zero row
for a frame without a person) or, with a visibility channel, when its visibility is below the
score floor (a hand the model barely saw: its position is a guess). A *gap* is a run of frames
in which one keypoint is missing. A gap is filled only when it is *bounded* (a frame with the
point present before and after it) and at most ``max_gap`` frames long; gaps at the start or the
end of a segment are never extrapolated, and longer gaps keep the input's values exactly (zeros
stay zeros).

Filled values: x, y, z interpolated with a shape-preserving cubic (``pchip``, scipy's
PchipInterpolator over the point's present frames: it never overshoots its neighbours, so x, y
stay in [0, 1]) or straight lines (``linear``); the visibility of a filled point is
``filled_visibility`` times the lower visibility of the two present frames around the gap.
Which values were filled is returned as a (T, N) bool mask.
"""
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np
from scipy.interpolate import PchipInterpolator

FILL_METHODS = ('pchip', 'linear')


@dataclass(frozen=True)
class Gap:
    point: int  # row position of the keypoint
    start: int  # first missing frame
    stop: int   # one past the last missing frame
    bounded: bool  # a present frame on both sides

    @property
    def length(self) -> int:
        return self.stop - self.start


def missing_points(array: np.ndarray, score_floor: float) -> np.ndarray:
    """(T, N) bool: keypoints that are missing (all values 0, or visibility < score_floor)."""
    missing = ~np.any(array != 0, axis=2)
    if array.shape[2] >= 4 and score_floor > 0:
        missing |= array[..., 3] < score_floor
    return missing


def runs(flags: np.ndarray) -> List[Tuple[int, int]]:
    """[(start, stop)] of the runs of True in a 1-D bool array."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))


def find_gaps(missing: np.ndarray) -> List[Gap]:
    """Every gap of every keypoint of a (T, N) missing mask, by point then time."""
    frames = missing.shape[0]
    gaps = []
    for point in range(missing.shape[1]):
        column = missing[:, point]
        if not column.any():
            continue
        for start, stop in runs(column):
            gaps.append(Gap(point, start, stop, bounded=start > 0 and stop < frames))
    return gaps


def fill_gaps(array: np.ndarray, missing: np.ndarray, max_gap: int, method: str = 'pchip',
              filled_visibility: float = 0.5):
    """Fill the bounded gaps of at most ``max_gap`` frames.

    Returns (array, filled, gaps): a float32 copy with the gaps filled, the (T, N) bool mask of
    filled values, and every gap found (``Gap``), filled or not.
    """
    if method not in FILL_METHODS:
        raise ValueError(f'fill method {method!r}: one of {", ".join(FILL_METHODS)}')
    out = np.array(array, dtype=np.float32, copy=True)
    filled = np.zeros(missing.shape, dtype=bool)
    gaps = find_gaps(missing)
    by_point = {}
    for gap in gaps:
        if gap.bounded and gap.length <= max_gap:
            by_point.setdefault(gap.point, []).append(gap)
    frames = np.arange(array.shape[0])
    for point, point_gaps in by_point.items():
        present = ~missing[:, point]
        known_t = frames[present]
        known = array[present, point, :3].astype(np.float64)
        wanted = np.concatenate([frames[g.start:g.stop] for g in point_gaps])
        if method == 'pchip' and len(known_t) >= 3:
            values = PchipInterpolator(known_t, known, axis=0, extrapolate=False)(wanted)
        else:
            values = np.stack([np.interp(wanted, known_t, known[:, c]) for c in range(3)], axis=1)
        out[wanted, point, :3] = values
        filled[wanted, point] = True
        if out.shape[2] >= 4:
            for g in point_gaps:
                neighbours = min(array[g.start - 1, point, 3], array[g.stop, point, 3])
                out[g.start:g.stop, point, 3] = np.float32(filled_visibility * neighbours)
    return out, filled, gaps
