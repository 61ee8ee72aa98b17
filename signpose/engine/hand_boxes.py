"""The hand pass's boxes (docs/hands.md): where each hand of a person is, from the whole-body
model's own keypoints, in pixels of the original frame. Pure: no model, no frame.

The rule, per hand (left: COCO-WholeBody wrist 9, elbow 7, hand 91-111; right: 10, 8, 112-132),
on the whole-body model's raw scores:

1. ``points``: at least MIN_POINTS of the hand's 21 keypoints score MIN_SCORE or more: the box
   is the tight box of those keypoints and of the body's wrist (when it scores MIN_SCORE or more).
2. ``forearm``: else, when the wrist and the elbow both score MIN_SCORE or more: a square of the
   forearm's length (elbow to wrist), centred FOREARM_CENTRE forearm lengths beyond the wrist along
   the elbow-to-wrist direction (a hand is about 0.8 forearm long: room for a bent wrist).
3. ``weak``: else no box.

A box is the tight box of the hand, as the hand model's training boxes were; the hand model's own
test pipeline pads it (GetBBoxCenterScale: 1.25, as in its training) and cuts it square. A box
whose longer side is under MIN_SIDE pixels is ``empty`` (zero size), one less than MIN_INSIDE of
whose area lies in the frame is ``outside`` (the hand leaves the frame): for those, as for
``weak``, the whole-body values are kept, and the audit file records why.
"""
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

MIN_SCORE = 0.3  # a whole-body keypoint scoring this much or more is "strong" (raw score)
MIN_POINTS = 8  # strong hand keypoints (of 21) for a box of the keypoints
FOREARM_CENTRE = 0.4  # the forearm box's centre: this many forearm lengths beyond the wrist
FOREARM_SIDE = 1.0  # the forearm box's side, in forearm lengths
MIN_SIDE = 2.0  # pixels: a box with a shorter longer side is empty
MIN_INSIDE = 0.5  # the share of a box's area that must lie in the frame

# (name, wrist, elbow, the 21 hand keypoints) in COCO-WholeBody's 133
HANDS: Tuple[Tuple[str, int, int, Tuple[int, ...]], ...] = (
    ('left', 9, 7, tuple(range(91, 112))),
    ('right', 10, 8, tuple(range(112, 133))),
)
HAND_POINTS = {name: points for name, _, _, points in HANDS}

# the rules a box came from, and why a hand kept the whole-body values
POINTS, FOREARM = 'points', 'forearm'
WEAK, EMPTY, OUTSIDE = 'weak', 'empty', 'outside'
USED, KEPT = (POINTS, FOREARM), (WEAK, EMPTY, OUTSIDE)


@dataclass
class HandBox:
    hand: str  # 'left' or 'right'
    rule: str  # POINTS or FOREARM (a box to use), or WEAK, EMPTY, OUTSIDE (none)
    box: Optional[np.ndarray]  # (4,) float32 x1, y1, x2, y2 in pixels of the frame; None unless used

    @property
    def used(self) -> bool:
        return self.rule in USED


def _strong(scores: np.ndarray, xy: np.ndarray, index: int) -> bool:
    return bool(scores[index] >= MIN_SCORE and np.isfinite(xy[index]).all())


def inside_share(box: np.ndarray, width: int, height: int) -> float:
    """The share of ``box``'s area inside the frame (a box of no area: whether its centre is)."""
    x1, y1, x2, y2 = (float(v) for v in box)
    area = (x2 - x1) * (y2 - y1)
    if area <= 0:
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        return float(0 <= cx <= width and 0 <= cy <= height)
    w = max(0.0, min(x2, width) - max(x1, 0.0))
    h = max(0.0, min(y2, height) - max(y1, 0.0))
    return w * h / area


def hand_box(xy: np.ndarray, scores: np.ndarray, hand: str, width: int, height: int) -> HandBox:
    """One hand's box from a person's 133 keypoints ``xy`` (133, 2) in pixels and raw ``scores``
    (133,), by the rule of the module docstring."""
    name, wrist, elbow, points = next(h for h in HANDS if h[0] == hand)
    xy = np.asarray(xy, np.float64).reshape(-1, 2)
    scores = np.asarray(scores, np.float64).reshape(-1)
    strong = [i for i in points if _strong(scores, xy, i)]
    if len(strong) >= MIN_POINTS:
        rule = POINTS
        chosen = xy[strong + ([wrist] if _strong(scores, xy, wrist) else [])]
        box = np.concatenate([chosen.min(axis=0), chosen.max(axis=0)])
    elif _strong(scores, xy, wrist) and _strong(scores, xy, elbow):
        rule = FOREARM
        along = xy[wrist] - xy[elbow]
        length = float(np.hypot(*along))
        if length <= 0:
            return HandBox(name, EMPTY, None)
        centre = xy[wrist] + FOREARM_CENTRE * along
        half = FOREARM_SIDE * length / 2
        box = np.concatenate([centre - half, centre + half])
    else:
        return HandBox(name, WEAK, None)
    if max(box[2] - box[0], box[3] - box[1]) < MIN_SIDE:
        return HandBox(name, EMPTY, None)
    if inside_share(box, width, height) < MIN_INSIDE:
        return HandBox(name, OUTSIDE, None)
    return HandBox(name, rule, box.astype(np.float32))


def hand_boxes(xy: np.ndarray, scores: np.ndarray, width: int, height: int) -> List[HandBox]:
    """Both hands' boxes (left, right) of one person."""
    return [hand_box(xy, scores, name, width, height) for name, *_ in HANDS]
