"""Which person of a segment is the signer, when the detector sees more than one (MULTI_PERSON).

Pure numpy (and scipy's assignment), no model: the engine hands in, per sampled frame of one
segment, the persons found there (``Persons``: boxes above BBOX_THR, their scores, and the pose
RTMW3D gave each box), and gets back one ``Selection``: which box of each frame is the segment's
person (or none), and the figures a person needs to audit that choice.

Two rules:

``'largest'``: per frame, the largest box (``largest_box``). No tracking, no scores; a frame of
    two people of the same size keeps the first, the detector's highest-scoring one.

``'signer'``: within the segment,
    1. ``link_tracks``: the boxes are linked frame to frame into tracks. Each open track predicts
       its box in the next frame (its last box moved by its smoothed velocity, so two people who
       walk past each other keep their identities), and the boxes of a frame are assigned to the
       tracks by the Hungarian method on 1 - IoU (scipy's ``linear_sum_assignment``); a pair with
       an IoU under ``IOU_FLOOR`` is never linked. A track missing for more than ``MAX_GAP``
       frames is closed; a box nobody claims starts a new track.
    2. ``score_track``: each track lasting at least ``MIN_TRACK_FRAMES`` frames is scored for
       signing, in [0, 1], as the weighted sum of five parts (``WEIGHTS``), each in [0, 1]:

       ``motion`` (0.45): how much the wrists and the 42 hand keypoints move relative to the
           person's own shoulders (so a person walking, or a camera pan, is not signing), in
           shoulder widths per second (so the person's size or distance to the camera does not
           count), weighted by the keypoint scores clipped to [0, 1]; mapped to [0, 1] as
           m / (m + ``MOTION_HALF``). This is what signing is, and it carries the most weight.
       ``hands_up`` (0.20): the share of the track's frames with a confident wrist clearly above
           the hips (``HANDS_ABOVE_HIPS`` shoulder widths): signing happens in front of the chest
           and face; a bystander's hands hang at the sides.
       ``presence`` (0.15): the share of the segment's frames the track is in: the caption's
           signer is usually there throughout, someone passing by is not.
       ``size`` (0.10): sqrt(the track's median box area / the frame's area), and
       ``centre`` (0.10): 1 - the horizontal distance of the median box centre from the frame's
           centre, as a share of half the width. Sign-language video frames the signer large
           and central; these are weak priors, together less than motion, because a bystander
           nearer the camera is larger and may be central.
    3. ``decide``: the best-scoring track is the signer. When the runner-up scores within
       ``AMBIGUOUS_MARGIN`` of it, the segment is skipped (``ambiguous signer``, both scores in
       the reason); when no track lasts ``MIN_TRACK_FRAMES`` frames, it is skipped (``no person
       tracked long enough``). Shorter tracks are neither chosen nor counted as runner-up.

The choice is a heuristic on the model's own keypoints, not a recognition of signing: the
Selection's ``audit`` (the ledger) and ``boxes_record`` (the ``.persons.json`` beside the
``.npy``, drawn by qa/visualize) let a person check it.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from signpose.contract.outcomes import AMBIGUOUS_SIGNER, NO_TRACK

NUM_KEYPOINTS = 133  # COCO-WholeBody
LEFT_SHOULDER, RIGHT_SHOULDER, LEFT_HIP, RIGHT_HIP = 5, 6, 11, 12
LEFT_WRIST, RIGHT_WRIST = 9, 10
HAND_KEYPOINTS = tuple(range(91, 133))  # left hand 91-111, right hand 112-132
MOTION_KEYPOINTS = (LEFT_WRIST, RIGHT_WRIST) + HAND_KEYPOINTS

MODES = ('skip', 'largest', 'signer')  # config.MULTI_PERSON's choices

# --- tracking
IOU_FLOOR = 0.3  # a box and a track's predicted box overlapping less are never linked
MAX_GAP = 12  # frames a track may miss (0.5 s at 24 fps) and still be continued
VELOCITY_SMOOTHING = 0.5  # weight of the newest step in a track's velocity

# --- scoring
MIN_TRACK_FRAMES = 6  # a track must be in this many frames (0.25 s at 24 fps) to be judged
WEIGHTS = {'motion': 0.45, 'hands_up': 0.20, 'presence': 0.15, 'size': 0.10, 'centre': 0.10}
MOTION_HALF = 1.0  # shoulder widths per second at which the motion part is 0.5
MAX_STEP = 0.5  # shoulder widths a hand may move in one frame; a larger jump (a keypoint glitch) counts as this
HANDS_ABOVE_HIPS = 0.25  # a wrist this many shoulder widths above the hips is raised
CONFIDENT = 0.3  # a keypoint score (clipped to [0, 1]) at least this is a confident keypoint
MIN_SCALE = 0.1  # the shoulder width is taken as at least this share of the box height (a person side-on)

# --- deciding
AMBIGUOUS_MARGIN = 0.05  # the best two scores closer than this: the segment is skipped
AMBIGUOUS = AMBIGUOUS_SIGNER  # the skip reasons (contract/outcomes.py: final for this rule)
TOO_SHORT = NO_TRACK


@dataclass
class Persons:
    """The persons of one frame: the detector's boxes above BBOX_THR, and the pose of each box.

    boxes (n, 4) xyxy pixels; scores (n,) the detector's; xy (n, 133, 2) image pixels; z (n, 133)
    metres; keypoint_scores (n, 133) raw RTMW3D scores (unbounded, ~0..4: clipped to [0, 1]
    where used). A frame with no person has n = 0. For the 'largest' rule only the boxes are used.
    """
    boxes: np.ndarray
    scores: np.ndarray
    xy: Optional[np.ndarray] = None
    z: Optional[np.ndarray] = None
    keypoint_scores: Optional[np.ndarray] = None

    def __post_init__(self):
        self.boxes = np.asarray(self.boxes, np.float32).reshape(-1, 4)
        self.scores = np.asarray(self.scores, np.float32).reshape(-1)

    def __len__(self) -> int:
        return len(self.boxes)

    @classmethod
    def nobody(cls) -> 'Persons':
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros((0, NUM_KEYPOINTS, 2), np.float32),
                   np.zeros((0, NUM_KEYPOINTS), np.float32), np.zeros((0, NUM_KEYPOINTS), np.float32))

    def pose(self, i: int):
        """(xy, z, scores) of box ``i``, as the pose model gave them."""
        return self.xy[i], self.z[i], self.keypoint_scores[i]


# ------------------------------------------------------------------ the 'largest' rule
def box_areas(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    return np.clip(boxes[:, 2] - boxes[:, 0], 0, None) * np.clip(boxes[:, 3] - boxes[:, 1], 0, None)


def largest_box(boxes: np.ndarray) -> Optional[int]:
    """The index of the largest box (the first of equal ones), None for no box."""
    areas = box_areas(boxes)
    return int(np.argmax(areas)) if len(areas) else None


# ------------------------------------------------------------------ tracks
def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (m, 4) with every box of ``b`` (n, 4), xyxy: (m, n)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)[:, None]
    b = np.asarray(b, np.float64).reshape(-1, 4)[None]
    w = np.clip(np.minimum(a[..., 2], b[..., 2]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    h = np.clip(np.minimum(a[..., 3], b[..., 3]) - np.maximum(a[..., 1], b[..., 1]), 0, None)
    inter = w * h
    union = box_areas(a.reshape(-1, 4))[:, None] + box_areas(b.reshape(-1, 4))[None] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def link_tracks(boxes_per_frame: Sequence[np.ndarray], iou_floor: float = IOU_FLOOR,
                max_gap: int = MAX_GAP) -> List[np.ndarray]:
    """Link the boxes of consecutive frames into tracks.

    In: per frame an (n, 4) xyxy array (n may be 0). Out: per frame an (n,) int array, the track
    id of each box; ids count from 0 in the order the tracks first appear.
    """
    from scipy.optimize import linear_sum_assignment
    labels: List[np.ndarray] = []
    last_box: List[np.ndarray] = []
    velocity: List[np.ndarray] = []
    last_frame: List[int] = []
    for t, boxes in enumerate(boxes_per_frame):
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        ids = np.full(len(boxes), -1, int)
        open_tracks = [k for k in range(len(last_box)) if t - last_frame[k] <= max_gap + 1]
        if open_tracks and len(boxes):
            predicted = np.array([last_box[k] + velocity[k] * (t - last_frame[k]) for k in open_tracks])
            iou = iou_matrix(predicted, boxes)
            rows, cols = linear_sum_assignment(np.where(iou >= iou_floor, 1.0 - iou, 1e6))
            for r, c in zip(rows, cols):
                if iou[r, c] >= iou_floor:
                    ids[c] = open_tracks[r]
        for c in range(len(boxes)):
            k = ids[c]
            if k < 0:  # a new track
                ids[c] = k = len(last_box)
                last_box.append(boxes[c])
                velocity.append(np.zeros(4))
                last_frame.append(t)
                continue
            step = (boxes[c] - last_box[k]) / (t - last_frame[k])
            velocity[k] = (1 - VELOCITY_SMOOTHING) * velocity[k] + VELOCITY_SMOOTHING * step
            last_box[k], last_frame[k] = boxes[c], t
        labels.append(ids)
    return labels


# ------------------------------------------------------------------ scores
@dataclass
class TrackScore:
    """One track's signing score and its parts (each in [0, 1]; ``score`` = sum of WEIGHTS x parts)."""
    track: int
    frames: int  # frames the track is in
    score: float
    parts: Dict[str, float] = field(default_factory=dict)
    motion_per_second: float = 0.0  # the raw motion, shoulder widths per second

    def as_dict(self) -> dict:
        return dict(track=self.track, frames=self.frames, score=round(self.score, 4),
                    parts={k: round(v, 4) for k, v in self.parts.items()})


def score_track(frames: Sequence[int], boxes: np.ndarray, xy: np.ndarray, keypoint_scores: np.ndarray,
                total_frames: int, width: int, height: int, fps: float = 24.0, track: int = 0) -> TrackScore:
    """Score one track for signing (the parts: the module docstring).

    In: the frame positions the track is in (ascending, within the segment's ``total_frames``),
    and per such frame its box (k, 4) xyxy, keypoints (k, 133, 2) pixels and raw scores (k, 133);
    the frame's size; the rate the frames were sampled at. Out: a TrackScore.
    """
    frames = np.asarray(frames, int)
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    xy = np.asarray(xy, np.float64)
    conf = np.clip(np.asarray(keypoint_scores, np.float64), 0.0, 1.0)
    heights = np.clip(boxes[:, 3] - boxes[:, 1], 1e-6, None)
    # the person's scale: the median shoulder width over frames with both shoulders confident
    shoulders = np.linalg.norm(xy[:, LEFT_SHOULDER] - xy[:, RIGHT_SHOULDER], axis=-1)
    sure = np.minimum(conf[:, LEFT_SHOULDER], conf[:, RIGHT_SHOULDER]) >= CONFIDENT
    width_px = float(np.median(shoulders[sure])) if sure.any() else float(np.median(heights)) / 3
    scale = max(width_px, MIN_SCALE * float(np.median(heights)), 1e-6)

    # motion: hand keypoints relative to the shoulders' midpoint, between consecutive appearances
    centre = (xy[:, LEFT_SHOULDER] + xy[:, RIGHT_SHOULDER]) / 2
    local = xy[:, MOTION_KEYPOINTS] - centre[:, None]
    weights = conf[:, MOTION_KEYPOINTS]
    steps = []
    for i in range(1, len(frames)):
        gap = frames[i] - frames[i - 1]
        if gap > MAX_GAP + 1:
            continue
        w = np.minimum(weights[i], weights[i - 1])
        if w.sum() <= 0:
            continue
        moved = np.linalg.norm(local[i] - local[i - 1], axis=-1) / gap / scale
        steps.append(float((np.minimum(moved, MAX_STEP) * w).sum() / w.sum()))
    motion = float(np.mean(steps)) * fps if steps else 0.0

    # hands up: a confident wrist above the hips' line by HANDS_ABOVE_HIPS shoulder widths
    hips_y = (xy[:, LEFT_HIP, 1] + xy[:, RIGHT_HIP, 1]) / 2
    wrists = (LEFT_WRIST, RIGHT_WRIST)
    raised = (xy[:, wrists, 1] < hips_y[:, None] - HANDS_ABOVE_HIPS * scale) & (conf[:, wrists] >= CONFIDENT)
    hands_up = float(raised.any(axis=1).mean()) if len(frames) else 0.0

    areas = box_areas(boxes)
    centres_x = (boxes[:, 0] + boxes[:, 2]) / 2
    parts = {
        'motion': motion / (motion + MOTION_HALF),
        'hands_up': hands_up,
        'presence': len(frames) / max(1, total_frames),
        'size': float(np.clip(np.sqrt(np.median(areas) / max(1.0, width * height)), 0.0, 1.0)),
        'centre': float(np.clip(1.0 - abs(np.median(centres_x) - width / 2) / (width / 2), 0.0, 1.0)),
    }
    score = float(sum(WEIGHTS[k] * v for k, v in parts.items()))
    return TrackScore(track, len(frames), score, parts, motion)


# ------------------------------------------------------------------ the decision
@dataclass
class Selection:
    """What a rule decided for one segment.

    ``chosen`` per frame: the index of the segment's person among that frame's boxes, or None (a
    zero row). ``reason``: why the segment is skipped ('' when it is not). The rest is for the
    audit: the mode, the track id of each box, the scores of the judged tracks (best first).
    """
    mode: str
    chosen: List[Optional[int]]
    boxes: List[np.ndarray]
    reason: str = ''
    track_ids: Optional[List[np.ndarray]] = None
    scores: List[TrackScore] = field(default_factory=list)
    tracks: int = 0  # tracks found (judged or not)
    chosen_track: Optional[int] = None

    @property
    def skipped(self) -> bool:
        return bool(self.reason)

    @property
    def score(self) -> Optional[float]:
        return self.scores[0].score if self.scores else None

    @property
    def runner_up(self) -> Optional[float]:
        return self.scores[1].score if len(self.scores) > 1 else None

    def missing(self) -> List[int]:
        """The frame positions where the chosen person is not (their rows are zeros)."""
        return [t for t, c in enumerate(self.chosen) if c is None]

    def audit(self) -> dict:
        """The ledger's record of the choice, compact: the mode, tracks, the chosen and the runner-up's
        scores, the frames where the chosen person was missing (as [first, last] ranges)."""
        record = dict(mode=self.mode, several=sum(len(b) > 1 for b in self.boxes),
                      persons=max((len(b) for b in self.boxes), default=0))
        if self.mode == 'signer':
            record.update(tracks=self.tracks, judged=len(self.scores), chosen_track=self.chosen_track,
                          score=None if self.score is None else round(self.score, 4),
                          runner_up=None if self.runner_up is None else round(self.runner_up, 4),
                          margin=AMBIGUOUS_MARGIN, min_track_frames=MIN_TRACK_FRAMES)
        if not self.reason:
            record['missing'] = frame_ranges(self.missing())
        return record

    def boxes_record(self) -> dict:
        """Every person's box per frame and which one was kept, for the '.persons.json' file that
        qa/visualize draws (boxes in pixels, rounded to 0.1)."""
        record = dict(mode=self.mode, frames=len(self.boxes), chosen=list(self.chosen),
                      boxes=[np.round(b.astype(np.float64), 1).tolist() for b in self.boxes])
        if self.track_ids is not None:
            record['tracks'] = [ids.tolist() for ids in self.track_ids]
            record['scores'] = [s.as_dict() for s in self.scores]
        record['selection'] = self.audit()
        return record


def frame_ranges(positions: Sequence[int]) -> List[List[int]]:
    """[3, 4, 5, 9] -> [[3, 5], [9, 9]]."""
    ranges: List[List[int]] = []
    for p in positions:
        if ranges and p == ranges[-1][1] + 1:
            ranges[-1][1] = p
        else:
            ranges.append([p, p])
    return ranges


def select_largest(frames: Sequence[Persons]) -> Selection:
    """The 'largest' rule: per frame the largest box; never skips."""
    return Selection('largest', [largest_box(p.boxes) for p in frames], [p.boxes for p in frames])


def select_signer(frames: Sequence[Persons], width: int, height: int, fps: float = 24.0,
                  margin: float = AMBIGUOUS_MARGIN, min_track_frames: int = MIN_TRACK_FRAMES) -> Selection:
    """The 'signer' rule over one segment (the module docstring): tracks, scores, the decision.

    In: one Persons per sampled frame of the segment, with their poses; the frame size; the
    sampling rate. Out: a Selection; ``reason`` is set when the segment is to be skipped.
    """
    boxes = [p.boxes for p in frames]
    ids = link_tracks(boxes)
    count = 1 + max((int(i.max()) for i in ids if len(i)), default=-1)
    members: Dict[int, list] = {k: [] for k in range(count)}
    for t, (persons, track_ids) in enumerate(zip(frames, ids)):
        for i, k in enumerate(track_ids):
            members[int(k)].append((t, i))
    scores = []
    for k, seen in members.items():
        if len(seen) < min_track_frames:
            continue
        ts = [t for t, _ in seen]
        scores.append(score_track(ts, np.array([frames[t].boxes[i] for t, i in seen]),
                                  np.array([frames[t].xy[i] for t, i in seen]),
                                  np.array([frames[t].keypoint_scores[i] for t, i in seen]),
                                  len(frames), width, height, fps, track=k))
    scores.sort(key=lambda s: (-s.score, s.track))
    selection = Selection('signer', [None] * len(frames), boxes, track_ids=ids, scores=scores, tracks=count)
    if not scores:
        longest = max((len(seen) for seen in members.values()), default=0)
        selection.reason = (f'{TOO_SHORT}: the longest of {count} track(s) is in {longest} frame(s), '
                            f'{min_track_frames} are needed to judge who signs')
        return selection
    if len(scores) > 1 and scores[0].score - scores[1].score < margin:
        selection.reason = (f'{AMBIGUOUS}: the best two persons score {scores[0].score:.3f} and '
                            f'{scores[1].score:.3f}, within the margin {margin}')
        return selection
    best = scores[0].track
    selection.chosen_track = best
    selection.chosen = [next((i for i, k in enumerate(track_ids) if k == best), None) for track_ids in ids]
    return selection


def select(mode: str, frames: Sequence[Persons], width: int, height: int, fps: float = 24.0) -> Selection:
    """The rule of MULTI_PERSON ``mode`` ('largest' or 'signer') over one segment's frames."""
    if mode == 'largest':
        return select_largest(frames)
    if mode == 'signer':
        return select_signer(frames, width, height, fps)
    raise ValueError(f'MULTI_PERSON must be one of {", ".join(repr(m) for m in MODES)}, not {mode!r}')
