"""Synthetic signing with a known truth, for the smoothing tests and benchmark (no model, no video).

``make_segment(seed)`` draws one segment at 24 fps in the stage's (T, 85, 4) layout:
    truth       (T, 85, 3) x, y normalised to a 1280 x 720 frame, z in metres, as the stage writes
    observed    the array a pose model would give: the truth plus noise that grows as the
                confidence falls, visibility = that confidence, and the drops below
Movements: both wrists go from target to target in the signing space with minimum-jerk
transitions (0.17-0.42 s) and holds (0.04-0.3 s), some holds with a small repeated movement
(3-5 Hz); the hand shapes (spread, curl and turn of the 20 finger points) change with each
transition; elbows follow the wrists; the head nods, the mouth opens and closes; the body sways.
Confidence: body ~0.9, face ~0.85, hands ~0.75 falling by up to 0.35 in fast movements (blur).
Noise: sigma = NOISE_PX[0] + NOISE_PX[1] * (1 - confidence) ** 2 pixels (z: NOISE_Z, metres).
Drops (``drops=True``): single frames and short runs (2-5 frames) without the person (all-zero
rows), short runs of a hand missed (visibility 0.02-0.25, positions off by tens of pixels, as a
model guesses a hand it cannot see), and one long hand drop (12-30 frames, all zeros) per
segment: a gap no filter may fill.
"""
from dataclasses import dataclass
from typing import List, Tuple

import numpy as np

FPS = 24.0
FRAME = (1280, 720)  # the frame the pixels refer to
NOISE_PX = (2.0, 24.0)  # sigma in pixels at confidence 1, and its growth as (1 - confidence) ** 2
NOISE_Z = (0.01, 0.12)  # metres, likewise
# the stage's rows: 0-5 body (shoulders L R, elbows L R, hips L R), 6-42 face, 43-63 left hand, 64-84 right
BODY, FACE, LEFT_HAND, RIGHT_HAND = range(0, 6), range(6, 43), range(43, 64), range(64, 85)
L_SHOULDER, R_SHOULDER, L_ELBOW, R_ELBOW, L_HIP, R_HIP = range(6)
LEFT_WRIST, RIGHT_WRIST = 43, 64


@dataclass
class Segment:
    truth: np.ndarray       # (T, 85, 3) float64
    observed: np.ndarray    # (T, 85, 4) float32, the stage's layout
    confidence: np.ndarray  # (T, 85) the confidence the noise was drawn with
    dropped: np.ndarray     # (T, 85) bool: points the generator made missing
    long_drops: List[Tuple[int, int, int]]  # (first row, start, stop) of each long hand drop (21 rows)
    fast: np.ndarray        # (T, 2) bool: frames where the left / right wrist moves fast
    fps: float = FPS


def min_jerk(s):
    return 10 * s ** 3 - 15 * s ** 4 + 6 * s ** 5


def wrist_path(rng, frames: int, fps: float, centre, active: float):
    """(T, 3) pixel x, y and z (m) of one wrist: holds and minimum-jerk moves between targets;
    ``active`` in [0, 1]: how much of the time it signs (else it rests low)."""
    path = np.zeros((frames, 3))
    t, position = 0, np.array([centre[0], centre[1] + 180, -0.15])
    while t < frames:
        if rng.random() < active:
            target = np.array([centre[0] + rng.uniform(-260, 260), centre[1] + rng.uniform(-220, 120),
                               rng.uniform(-0.45, -0.15)])
        else:
            target = np.array([centre[0] + rng.uniform(-40, 40), centre[1] + 260, -0.1])
        move = max(2, int(round(rng.uniform(0.17, 0.42) * fps)))
        s = min_jerk(np.arange(1, move + 1) / move)[:, None]
        seg = position + s * (target - position)
        hold = max(1, int(round(rng.uniform(0.04, 0.3) * fps)))
        still = np.repeat(target[None], hold, axis=0)
        if rng.random() < 0.35:  # a repeated small movement (tapping, twisting)
            f, amp = rng.uniform(3, 5), rng.uniform(8, 25)
            still[:, 1] += amp * np.sin(2 * np.pi * f * np.arange(hold) / fps)
        piece = np.concatenate([seg, still])[:frames - t]
        path[t:t + len(piece)] = piece
        t += len(piece)
        position = target
    return path


def hand_points(rng, wrist, frames, fps, side):
    """(T, 21, 3): the wrist and 4 points per finger, from hand shapes that change over time."""
    changes = np.sort(rng.choice(np.arange(4, max(5, frames - 4)), size=max(1, frames // 12), replace=False))
    shapes = rng.uniform([0.15, 0.0, -0.6], [0.45, 1.2, 0.6], size=(len(changes) + 1, 3))  # spread, curl, turn
    shape = np.repeat(shapes[:1], frames, axis=0)
    for i, c in enumerate(changes):
        width = int(round(rng.uniform(0.15, 0.3) * fps))
        s = min_jerk(np.clip((np.arange(frames) - c) / width, 0, 1))[:, None]
        shape = shape + s * (shapes[i + 1] - shapes[i])
    points = np.zeros((frames, 21, 3))
    points[:, 0] = wrist
    bone = 22.0  # px per finger segment
    for finger in range(5):
        base = -np.pi / 2 + side * (finger - 2) * shape[:, 0] + shape[:, 2]
        position = wrist[:, :2].copy()
        for joint in range(4):
            angle = base + side * shape[:, 1] * joint * 0.5
            position = position + bone * (1.2 if finger == 0 and joint == 0 else 1.0) * np.stack(
                [np.cos(angle), np.sin(angle)], axis=1)
            points[:, 1 + 4 * finger + joint, :2] = position
            points[:, 1 + 4 * finger + joint, 2] = wrist[:, 2] - 0.01 * (joint + 1) * shape[:, 1]
    return points


def make_segment(seed: int, seconds: float = 8.0, fps: float = FPS, noise: float = 1.0, drops: bool = True,
                 long_drop: bool = True) -> Segment:
    rng = np.random.default_rng(seed)
    frames = int(round(seconds * fps))
    time = np.arange(frames) / fps
    w, h = FRAME
    px = np.zeros((frames, 85, 3))  # x, y in pixels, z in metres
    sway = 6 * np.sin(2 * np.pi * 0.3 * time + rng.uniform(0, 6)) + 3 * np.sin(2 * np.pi * 0.7 * time)
    shoulders = {L_SHOULDER: (760, 400), R_SHOULDER: (520, 400), L_HIP: (710, 700), R_HIP: (570, 700)}
    for row, (x, y) in shoulders.items():
        px[:, row] = np.stack([x + sway, y + 0.3 * sway, np.full(frames, -0.05 if row < 2 else 0.0)], axis=1)
    right = wrist_path(rng, frames, fps, (560, 430), active=0.85)  # the dominant hand (image left)
    left = wrist_path(rng, frames, fps, (720, 430), active=0.45)
    px[:, L_ELBOW] = 0.5 * px[:, L_SHOULDER] + 0.5 * left + [40, 120, 0]
    px[:, R_ELBOW] = 0.5 * px[:, R_SHOULDER] + 0.5 * right + [-40, 120, 0]
    px[:, LEFT_HAND] = hand_points(rng, left, frames, fps, side=-1)
    px[:, RIGHT_HAND] = hand_points(rng, right, frames, fps, side=1)
    # face: a ring (contour, brows, nose) and a mouth, on a nodding head
    head = np.stack([640 + 0.5 * sway + 8 * np.sin(2 * np.pi * 0.5 * time),
                     200 + 10 * np.sin(2 * np.pi * rng.uniform(0.8, 1.5) * time)], axis=1)
    mouth_open = 12 * np.clip(np.sin(2 * np.pi * rng.uniform(3, 5) * time + rng.uniform(0, 6)), 0, None)
    for k, row in enumerate(FACE):
        if row < 29:  # contour, brows, nose: fixed on the head
            angle = 2 * np.pi * k / 23
            px[:, row, :2] = head + [70 * np.cos(angle), 90 * np.sin(angle)]
        else:  # mouth: opens and closes
            angle = 2 * np.pi * (row - 29) / 14
            px[:, row, 0] = head[:, 0] + 30 * np.cos(angle)
            px[:, row, 1] = head[:, 1] + 55 + (10 + mouth_open) * np.sin(angle)
        px[:, row, 2] = -0.08
    truth = px.copy()
    truth[..., 0] /= w
    truth[..., 1] /= h

    # confidence: per part, lower for a fast-moving hand
    confidence = np.empty((frames, 85))
    confidence[:, BODY] = 0.9
    confidence[:, FACE] = 0.85
    speed = {}
    for hand, wrist in ((LEFT_HAND, LEFT_WRIST), (RIGHT_HAND, RIGHT_WRIST)):
        v = np.linalg.norm(np.gradient(px[:, wrist, :2], axis=0), axis=1) * fps  # px / s
        speed[wrist] = v
        confidence[:, hand] = (0.75 - 0.35 * np.clip(v / 1500, 0, 1))[:, None]
    confidence += rng.normal(0, 0.05, confidence.shape)
    confidence = np.clip(confidence, 0.05, 1.0)
    sigma = NOISE_PX[0] + NOISE_PX[1] * (1 - confidence) ** 2
    sigma_z = NOISE_Z[0] + NOISE_Z[1] * (1 - confidence) ** 2
    noisy = px + noise * np.stack([sigma, sigma, sigma_z], axis=-1) * rng.standard_normal(px.shape)
    observed = np.empty((frames, 85, 4), np.float32)
    observed[..., 0] = np.clip(noisy[..., 0] / w, 0, 1)
    observed[..., 1] = np.clip(noisy[..., 1] / h, 0, 1)
    observed[..., 2] = noisy[..., 2]
    observed[..., 3] = confidence

    dropped = np.zeros((frames, 85), bool)
    long_drops = []
    if drops:
        for _ in range(max(1, frames // 40)):  # frames without the person
            length = 1 if rng.random() < 0.6 else int(rng.integers(2, 6))
            start = int(rng.integers(2, frames - length - 2))
            observed[start:start + length] = 0
            dropped[start:start + length] = True
        for _ in range(max(1, frames // 30)):  # a hand missed for a few frames: low score, a guess
            hand = LEFT_HAND if rng.random() < 0.5 else RIGHT_HAND
            length = int(rng.integers(1, 6))
            start = int(rng.integers(2, frames - length - 2))
            rows = slice(hand.start, hand.stop)
            keep = ~dropped[start:start + length, rows]
            guess = observed[start:start + length, rows].copy()
            guess[..., 0] += rng.normal(0, 40 / w, guess.shape[:2])
            guess[..., 1] += rng.normal(0, 40 / h, guess.shape[:2])
            guess[..., :2] = np.clip(guess[..., :2], 0, 1)
            guess[..., 3] = rng.uniform(0.02, 0.25, guess.shape[:2])
            observed[start:start + length, rows] = np.where(keep[..., None], guess, observed[start:start + length, rows])
            dropped[start:start + length, rows] = True
        if long_drop and frames > 40:
            hand = LEFT_HAND if rng.random() < 0.5 else RIGHT_HAND
            length = int(rng.integers(12, 31))
            start = int(rng.integers(2, frames - length - 2))
            observed[start:start + length, hand.start:hand.stop] = 0
            dropped[start:start + length, hand.start:hand.stop] = True
            long_drops.append((hand.start, start, start + length))
    fast = np.stack([speed[LEFT_WRIST] > 900, speed[RIGHT_WRIST] > 900], axis=1)  # px / s
    return Segment(truth, observed, confidence.astype(np.float32), dropped, long_drops, fast, fps)


def fast_swipe(frames: int = 48, fps: float = FPS, noise: float = 0.0, seed: int = 0) -> Segment:
    """One quick movement of the right hand across the frame (0.25 s, after a 1 s hold) and back,
    the hand fully confident, for lag tests: ``noise`` scales the usual noise (0: none)."""
    rng = np.random.default_rng(seed)
    base = make_segment(seed, seconds=frames / fps, fps=fps, noise=0.0, drops=False)
    truth = base.truth.copy()
    move, hold = int(round(0.25 * fps)), int(round(fps))
    s = np.zeros(frames)
    s[hold:hold + move] = min_jerk(np.arange(1, move + 1) / move)
    s[hold + move:] = 1.0
    offset = np.outer(s, [0.3, -0.15])  # across a third of the frame
    hand = slice(RIGHT_HAND.start, RIGHT_HAND.stop)
    truth[:, hand, :2] = truth[0, hand, :2] + offset[:, None, :]
    observed = base.observed.copy()
    observed[..., :3] = truth
    observed[:, hand, 3] = 0.9
    if noise:
        observed[..., 0] += noise * NOISE_PX[0] / FRAME[0] * rng.standard_normal(observed.shape[:2])
        observed[..., 1] += noise * NOISE_PX[0] / FRAME[1] * rng.standard_normal(observed.shape[:2])
    observed[..., :2] = np.clip(observed[..., :2], 0, 1)
    fast = np.zeros((frames, 2), bool)
    fast[hold:hold + move, 1] = True
    return Segment(truth, observed.astype(np.float32), base.confidence, np.zeros((frames, 85), bool), [], fast, fps)
