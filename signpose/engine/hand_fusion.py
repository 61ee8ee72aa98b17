"""The hand pass's fusion (docs/hands.md): a person's 133 whole-body keypoints with each hand's 21
points from the hand model, and what a segment's hands came to (the ledger's summary, the audit
file). Pure: no model, no frame.

The rule, per hand point: its x, y (and its score) are the hand model's where the hand model's score
is strictly higher than the whole-body model's, both clipped to [0, 1] as the .npy's visibility is;
elsewhere the whole-body values stay. z stays RTMW3D's everywhere (the hand model is 2D). The score
kept is the score of the value kept: the .npy's visibility and the .pose's confidence say how sure
the model that placed the point was. A hand without a box (engine/hand_boxes.py: weak, empty,
outside) keeps all its whole-body values.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from signpose.engine.hand_boxes import HANDS, KEPT, MIN_INSIDE, MIN_POINTS, MIN_SCORE, MIN_SIDE, FOREARM_CENTRE, \
    FOREARM_SIDE, HandBox

RULE = 'hand model where clip(score, 0, 1) > the whole-body clip(score, 0, 1), per point; z from RTMW3D'


def replace_where_surer(body_xy: np.ndarray, body_scores: np.ndarray, hand_xy: np.ndarray,
                        hand_scores: np.ndarray) -> np.ndarray:
    """The fusion rule on one hand's 21 points: which to take from the hand model (bool (21,))."""
    hand_xy = np.asarray(hand_xy, np.float32).reshape(-1, 2)
    surer = np.clip(np.asarray(hand_scores, np.float32), 0, 1) > np.clip(np.asarray(body_scores, np.float32), 0, 1)
    return surer & np.isfinite(hand_xy).all(axis=1)


@dataclass
class HandRecord:
    """What the hand pass did to one person: per hand (left, right) the box (NaN: none), the rule
    it came from or why there is none, which points were replaced, and the hand's mean score
    (clipped to [0, 1]) over its 21 points before and after."""
    boxes: np.ndarray  # (2, 4) float32
    rules: Tuple[str, str]
    replaced: np.ndarray  # (2, 21) bool
    before: np.ndarray  # (2,) float32
    after: np.ndarray  # (2,) float32


def fuse(pose, boxes: Sequence[HandBox], hands: Sequence[Optional[tuple]]):
    """(the person's pose with refined hands, its HandRecord). ``pose``: (xy (133, 2), z (133,), raw
    scores (133,)); ``boxes``: both hands' HandBox; ``hands``: for each, the hand model's (xy (21, 2),
    raw scores (21,)), or None where the hand had no box. The whole-body arrays are not changed."""
    xy, z, scores = pose
    # copies in the whole-body arrays' own dtype: a point not replaced gives the very row it gave before
    xy, scores = np.array(xy, copy=True), np.array(scores, copy=True)
    record = HandRecord(np.full((2, 4), np.nan, np.float32), tuple(b.rule for b in boxes),
                        np.zeros((2, 21), bool), np.zeros(2, np.float32), np.zeros(2, np.float32))
    for side, ((_, _, _, points), box, hand) in enumerate(zip(HANDS, boxes, hands)):
        index = np.asarray(points)
        record.before[side] = np.clip(scores[index], 0, 1).mean()
        if box.box is not None:
            record.boxes[side] = box.box
        if hand is not None and box.box is not None:
            hand_xy, hand_scores = hand
            take = replace_where_surer(xy[index], scores[index], hand_xy, hand_scores)
            xy[index[take]] = np.asarray(hand_xy, np.float32)[take]
            scores[index[take]] = np.asarray(hand_scores, np.float32)[take]  # the float32 values, exactly
            record.replaced[side] = take
        record.after[side] = np.clip(scores[index], 0, 1).mean()
    return (xy, z, scores), record


class HandLog:
    """One segment's HandRecords by frame position (None: no person in the frame)."""

    def __init__(self, frames: int):
        self.records: List[Optional[HandRecord]] = [None] * frames

    def put(self, position: int, record: HandRecord) -> None:
        self.records[position] = record

    def clear(self) -> None:
        self.records = [None] * len(self.records)

    def summary(self, frames: int) -> Dict[str, dict]:
        """The ledger's record per hand over the first ``frames`` frames with a person: the share of
        hand points replaced, the mean score (clipped to [0, 1]) before and after, the frames with
        a box, and the frames whose hand kept the whole-body values by reason."""
        done = [r for r in self.records[:frames] if r is not None]
        out = {}
        for side, (name, *_) in enumerate(HANDS):
            kept = {reason: sum(r.rules[side] == reason for r in done) for reason in KEPT}
            out[name] = dict(
                replaced=round(float(np.mean([r.replaced[side].mean() for r in done])), 4) if done else 0.0,
                before=round(float(np.mean([r.before[side] for r in done])), 4) if done else None,
                after=round(float(np.mean([r.after[side] for r in done])), 4) if done else None,
                boxes=sum(r.rules[side] not in KEPT for r in done),
                kept={reason: n for reason, n in kept.items() if n})
        return out

    def audit(self, frames: int, source: Tuple[str, str]) -> dict:
        """The audit file's record (output/hands.py) of the first ``frames`` frames."""
        record = dict(model=source[0], checkpoint=source[1], frames=frames, fusion=RULE,
                      boxes_rule=dict(min_score=MIN_SCORE, min_points=MIN_POINTS, forearm_centre=FOREARM_CENTRE,
                                      forearm_side=FOREARM_SIDE, min_side=MIN_SIDE, min_inside=MIN_INSIDE))
        for side, (name, *_) in enumerate(HANDS):
            boxes, rules, replaced = [], [], []
            for r in self.records[:frames]:
                if r is None:
                    boxes.append(None), rules.append(None), replaced.append(0)
                    continue
                box = r.boxes[side]
                # the shortest decimals that read back as the same float32: the pass can be recomputed exactly
                boxes.append(None if np.isnan(box).any() else [float(str(np.float32(v))) for v in box])
                rules.append(r.rules[side])
                replaced.append(int(sum(1 << k for k in np.flatnonzero(r.replaced[side]))))
            record[name] = dict(boxes=boxes, rule=rules, replaced=replaced)
        return record
