"""Which frames of a segment are kept: frames shown at start <= t < end, then thinned to ~24 fps.

A frame's time t is i / fps for a constant frame rate, or its own presentation time (seconds from
the first frame) for a variable one (``times``, see video.read_timeline).
"""
import math
from typing import List, Optional, Sequence

import numpy as np

EPS = 1e-9


def segment_frames(fps: float, start: float, end: float, times: Optional[Sequence[float]] = None) -> range:
    """Indices i of the frames shown inside [start, end)."""
    if times is not None:
        times = np.asarray(times)
        return range(int(np.searchsorted(times, start, 'left')), int(np.searchsorted(times, end, 'left')))
    first = max(0, math.floor(start * fps) - 1)
    while first / fps < start:
        first += 1
    stop = max(first, math.ceil(end * fps) + 1)
    while stop > first and (stop - 1) / fps >= end:
        stop -= 1
    return range(first, stop)


def sample_frames(fps: float, start: float, end: float, reduce_to: Optional[float] = 24.0,
                  skip: int = 1, times: Optional[Sequence[float]] = None) -> List[int]:
    """The kept frame indices of one segment; the sampler restarts at each segment.

    reduce mode (reduce_to set): a clock ticks reduce_to times a second from the segment's first
    frame, and a frame is kept when a tick falls while it is shown (after its own time, up to
    the next frame's). At a constant rate that is: add reduce_to / fps per frame and keep a frame
    each time the sum reaches 1, computed as a floor of the exact product, so 90 frames at
    30 -> 24 fps keep exactly 72. skip mode (reduce_to None): every ``skip``-th frame.
    """
    frames = segment_frames(fps, start, end, times)
    if reduce_to is None:
        return list(frames[::max(1, int(skip))])
    if times is None:
        ratio = reduce_to / fps
        return [i for j, i in enumerate(frames)
                if math.floor((j + 1) * ratio + EPS) > math.floor(j * ratio + EPS)]
    if not frames:
        return []
    times = np.asarray(times, dtype=np.float64)
    shown = times[frames.start:frames.stop + 1]
    if len(shown) == len(frames):  # the video's last frame: shown for a typical frame duration
        typical = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / fps
        shown = np.append(shown, shown[-1] + typical)
    ticks = np.floor((shown - shown[0]) * reduce_to + EPS)
    return [i for i, keep in zip(frames, ticks[1:] > ticks[:-1]) if keep]

