"""The row contract: one frame of a segment is one (85, C) row of (x, y, z[, visibility]).

``pose_row`` turns one person's 133 keypoints into that row; ``empty_row`` is a frame without a
person. The engine writes such rows, the .pose writer and converter read them back, the QA tools
check and draw them.
"""
import numpy as np

NUM_COCO_WHOLEBODY = 133  # keypoints RTMW3D estimates (COCO-WholeBody)


def channels(add_visible: bool) -> int:
    """Values per keypoint: x, y, z and, with ADD_VISIBLE, the visibility."""
    return 4 if add_visible else 3


def empty_row(num_keypoints: int, add_visible: bool) -> np.ndarray:
    """The row of a frame with no person: all zeros (the frame is kept so time stays aligned)."""
    return np.zeros((num_keypoints, channels(add_visible)), dtype=np.float32)


def empty_rows(frames: int, num_keypoints: int, add_visible: bool) -> np.ndarray:
    """A segment's rows before any frame is known: (frames, num_keypoints, C) zeros."""
    return np.zeros((frames, num_keypoints, channels(add_visible)), dtype=np.float32)


def pose_row(image_xy: np.ndarray, depths: np.ndarray, scores: np.ndarray, width: int, height: int,
             keypoint_idx, add_visible: bool = True) -> np.ndarray:
    """Select and normalise keypoints of one person.

    image_xy (K, 2) image pixels; depths (K,) root-relative z in metres; scores (K,) raw (or the
    same with leading axes, e.g. a segment's frames (T, K, 2): a .pose file read back).
    x, y are divided by the frame size and clipped to [0, 1]; z is kept in metres; visibility
    is the score clipped to [0, 1] (RTMW3D scores are not bounded by 1).
    """
    idx = np.asarray(keypoint_idx)
    x = np.clip(image_xy[..., idx, 0] / width, 0.0, 1.0)
    y = np.clip(image_xy[..., idx, 1] / height, 0.0, 1.0)
    z = depths[..., idx]
    columns = [x, y, z]
    if add_visible:
        columns.append(np.clip(scores[..., idx], 0.0, 1.0))
    return np.stack(columns, axis=-1).astype(np.float32)
