"""One frame's pose -> one row of the output contract: (85, 4) = (x, y, z, visibility)."""
import numpy as np


def empty_row(num_keypoints: int, add_visible: bool) -> np.ndarray:
    """The row of a frame with no person: all zeros (the frame is kept so time stays aligned)."""
    return np.zeros((num_keypoints, 4 if add_visible else 3), dtype=np.float32)


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
