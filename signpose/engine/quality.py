"""Quality of one segment (computed where the engine closes it, recorded in the ledger), from what
the stage already holds: its (T, 85, C) rows and the person
scores the detector reported for each frame. Pure functions, no model, no file.

The measures (``segment_quality``; docs/qa.md says how to read them and their limits):
    frames          rows of the segment (frames read, for a multi-person skip as far as it got)
    person          frames with a person (a row that is not all zeros)
    body, face, lhand, rhand
                    mean visibility (the score clipped to [0, 1]) of the part's keypoints over the
                    frames with a person
    lhand_in, rhand_in
                    share of the frames with a person in which the hand is present: the mean
                    visibility of its 21 points >= KPT_THR
    jitter_l, jitter_r
                    median frame-to-frame movement of the wrist (the hand's root point, COCO 91 /
                    112: the 85 points have no body wrists) over consecutive frames with the hand
                    present in both, divided by the median shoulder width (COCO 5 - 6), both in the
                    .npy's coordinates (x / width, y / height)
    top             the highest person score seen in any frame
    second          the highest second-person score seen in any frame (None: no frame had two
                    person boxes above the detector's reporting floor)
    multi           frames with more than one person scoring above BBOX_THR
    multi_scores    for a multi-person skip: the person scores of the first such frame (what decided it)
    frozen          the longest run of consecutive frames with a person whose rows are bit-identical
                    (1: every row differs from the one before; a model's output on real video never
                    repeats exactly, a still video or a broken model does)
    clipped         share of the keypoints shown (visibility >= KPT_THR; all without visibility) on
                    frames with a person whose x or y sits exactly on the frame's edge (0 or 1)
    first_row       a digest of the first row with a person (16 hex digits): segments sharing it
                    have identical rows, which real video never gives
A value that cannot be computed is None: no visibility channel (ADD_VISIBLE = False) leaves the
confidences and hand presence out; no frame with a person leaves everything but the counts out.
Floats are rounded to ``DIGITS`` decimals: the ledger holds one such record per segment.
"""
import hashlib
from typing import Dict, Optional, Sequence

import numpy as np

DIGITS = 3
LEFT_WRIST, RIGHT_WRIST = 91, 112  # COCO-WholeBody hand roots
LEFT_SHOULDER, RIGHT_SHOULDER = 5, 6
PARTS = ('body', 'face', 'lhand', 'rhand')
# every key a quality record has, in the order of the report's table and CSV
KEYS = ('frames', 'person', 'body', 'face', 'lhand', 'rhand', 'lhand_in', 'rhand_in', 'jitter_l', 'jitter_r',
        'top', 'second', 'multi', 'multi_scores', 'frozen', 'clipped', 'first_row')


def rounded(value) -> Optional[float]:
    if value is None or not np.isfinite(value):
        return None
    return round(float(value), DIGITS)


def person_frames(rows: np.ndarray) -> np.ndarray:
    """(T,) bool: the frames with a person (the stage writes all zeros for the others)."""
    return np.any(rows != 0, axis=(1, 2)) if len(rows) else np.zeros(0, bool)


def part_key(coco_index: int) -> str:
    """The part of a COCO-WholeBody keypoint, as qa/validate.py's ``part_of`` names it
    (0-22 body and feet, 23-90 face, 91-111 left hand, 112-132 right hand), in short."""
    if coco_index < 23:
        return 'body'
    if coco_index < 91:
        return 'face'
    return 'lhand' if coco_index < 112 else 'rhand'


def part_positions(coco_idx: Sequence[int]) -> Dict[str, np.ndarray]:
    """Positions in the 85 of each part's keypoints, keyed 'body', 'face', 'lhand', 'rhand'."""
    positions: Dict[str, list] = {key: [] for key in PARTS}
    for position, coco in enumerate(coco_idx):
        positions[part_key(coco)].append(position)
    return {key: np.asarray(value, int) for key, value in positions.items()}


def wrist_jitter(rows: np.ndarray, person: np.ndarray, coco_idx: Sequence[int], wrist: int,
                 present: Optional[np.ndarray]) -> Optional[float]:
    """Median movement of ``wrist`` between consecutive rows that both have a person (and, with
    ``present``, the hand in both), over the median shoulder width of the frames with a person."""
    idx = list(coco_idx)
    if wrist not in idx or LEFT_SHOULDER not in idx or RIGHT_SHOULDER not in idx or person.sum() < 2:
        return None
    xy = rows[:, :, :2].astype(np.float64)
    shoulders = np.linalg.norm(xy[person, idx.index(LEFT_SHOULDER)] - xy[person, idx.index(RIGHT_SHOULDER)], axis=1)
    width = float(np.median(shoulders))
    if width <= 0:
        return None
    usable = person if present is None else person & present
    pairs = usable[:-1] & usable[1:]
    if not pairs.any():
        return None
    moves = np.linalg.norm(np.diff(xy[:, idx.index(wrist)], axis=0)[pairs], axis=1)
    return float(np.median(moves)) / width


def longest_repeat(rows: np.ndarray, person: np.ndarray) -> int:
    """The most consecutive frames with a person and bit-identical rows (0 without a person)."""
    if not person.any():
        return 0
    same = np.zeros(len(rows), bool)
    if len(rows) > 1:
        same[1:] = np.all(rows[1:] == rows[:-1], axis=(1, 2)) & person[1:] & person[:-1]
    best = run = 0
    for repeat, here in zip(same, person):
        run = run + 1 if repeat else (1 if here else 0)
        best = max(best, run)
    return int(best)


def clipped_share(rows: np.ndarray, person: np.ndarray, kpt_thr: float) -> Optional[float]:
    """Share of the shown keypoints of frames with a person with x or y exactly 0 or 1."""
    if not person.any():
        return None
    kept = rows[person]
    xy = kept[:, :, :2]
    shown = kept[:, :, 3] >= kpt_thr if kept.shape[2] >= 4 else np.ones(kept.shape[:2], bool)
    if not shown.any():
        return None
    edge = np.any((xy == 0) | (xy == 1), axis=2)
    return float(edge[shown].mean())


def row_digest(row: np.ndarray) -> str:
    """16 hex digits of a row's float32 bytes (the same rows anywhere give the same digest)."""
    return hashlib.blake2b(np.ascontiguousarray(row, np.float32).tobytes(), digest_size=8).hexdigest()


def detection_summary(person_scores: Optional[Sequence], bbox_thr: float) -> dict:
    """top, second, multi and multi_scores from the person scores of each frame (a sequence, one
    array of scores per frame read; None: not recorded)."""
    if person_scores is None:
        return dict(top=None, second=None, multi=None, multi_scores=None)
    top = second = None
    multi, deciding = 0, None
    for scores in person_scores:
        scores = np.sort(np.asarray(scores, np.float64).ravel())[::-1]
        if len(scores) >= 1:
            top = scores[0] if top is None else max(top, scores[0])
        if len(scores) >= 2:
            second = scores[1] if second is None else max(second, scores[1])
        above = scores[scores > bbox_thr]
        if len(above) > 1:
            multi += 1
            if deciding is None:
                deciding = [rounded(s) for s in above]
    return dict(top=rounded(top), second=rounded(second), multi=multi, multi_scores=deciding)


def segment_quality(rows: np.ndarray, coco_idx: Sequence[int], kpt_thr: float,
                    person_scores: Optional[Sequence] = None, bbox_thr: float = 0.0) -> dict:
    """The quality record of one segment (the module docstring), every key of ``KEYS``.

    ``rows`` (T, 85, C): the segment's rows as written (C = 4 with visibility, 3 without);
    ``person_scores``: per frame read, the scores of the person boxes the detector reported.
    """
    rows = np.asarray(rows)
    person = person_frames(rows)
    quality = dict.fromkeys(KEYS)
    quality.update(frames=int(len(rows)), person=int(person.sum()))
    quality.update(detection_summary(person_scores, bbox_thr))
    if not person.any():
        return quality
    quality.update(frozen=longest_repeat(rows, person), clipped=rounded(clipped_share(rows, person, kpt_thr)),
                   first_row=row_digest(rows[int(np.argmax(person))]))
    parts = part_positions(coco_idx)
    visible = rows.shape[2] >= 4
    present = {}
    if visible:
        vis = rows[person, :, 3].astype(np.float64)
        for key, positions in parts.items():
            if len(positions):
                quality[key] = rounded(vis[:, positions].mean())
        for key, hand in (('l', 'lhand'), ('r', 'rhand')):
            if len(parts[hand]):
                hand_score = rows[:, parts[hand], 3].astype(np.float64).mean(axis=1)
                present[key] = hand_score >= kpt_thr
                quality[f'{hand}_in'] = rounded(present[key][person].mean())
    for key, wrist in (('l', LEFT_WRIST), ('r', RIGHT_WRIST)):
        quality[f'jitter_{key}'] = rounded(wrist_jitter(rows, person, coco_idx, wrist, present.get(key)))
    return quality


def quality_score(quality: dict) -> Optional[float]:
    """One number to rank segments by (the report's best and worst): the share of frames with
    a person times the mean of the two hands' presence. None when a part of it is missing."""
    frames, person = quality.get('frames'), quality.get('person')
    left, right = quality.get('lhand_in'), quality.get('rhand_in')
    if not frames or person is None or left is None or right is None:
        return None
    return round(person / frames * (left + right) / 2, DIGITS)
