"""Which frames of a segment are kept: frames with start <= i / fps < end, then thinned."""
import math
from typing import List, Optional


def segment_frames(fps: float, start: float, end: float) -> range:
    """Indices i of the frames shown inside [start, end)."""
    first = max(0, math.floor(start * fps) - 1)
    while first / fps < start:
        first += 1
    stop = max(first, math.ceil(end * fps) + 1)
    while stop > first and (stop - 1) / fps >= end:
        stop -= 1
    return range(first, stop)


def sample_frames(fps: float, start: float, end: float, reduce_to: Optional[float] = 24.0,
                  skip: int = 1) -> List[int]:
    """The kept frame indices of one segment; the sampler restarts at each segment.

    reduce mode (reduce_to set): add reduce_to / fps per frame and keep a frame each time the
    sum reaches 1 (computed as a floor of the exact product, so 90 frames at 30 -> 24 fps
    keep exactly 72); skip mode (reduce_to None): every ``skip``-th frame.
    """
    frames = segment_frames(fps, start, end)
    if reduce_to is None:
        return list(frames[::max(1, int(skip))])
    ratio = reduce_to / fps
    eps = 1e-9
    return [i for j, i in enumerate(frames)
            if math.floor((j + 1) * ratio + eps) > math.floor(j * ratio + eps)]
