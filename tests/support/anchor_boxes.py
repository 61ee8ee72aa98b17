"""RTMDet's candidate boxes on a 640x640 input, as NMS sees them: one box per anchor (its boxes are
shared by the classes), about twice the stride wide, on the three levels' grids (8,400 in all),
with a little noise. The NMS benchmark's frame and the NMS test's sparse-path input."""
import numpy as np


def rtmdet_anchor_boxes(rng: np.random.Generator) -> np.ndarray:
    """(8400, 4) float32 x1, y1, x2, y2: strides 8, 16 and 32 in turn, row by row."""
    levels = []
    for stride in (8, 16, 32):
        k = np.arange(640 // stride) * stride
        cy, cx = (v.ravel() for v in np.meshgrid(k, k, indexing='ij'))
        wh = stride * np.array([2.02, 1.65]) * rng.uniform(0.97, 1.0, (cx.size, 2))
        centre = np.stack([cx, cy], 1) + rng.normal(0, 0.2, (cx.size, 2))
        levels.append(np.clip(np.concatenate([centre - wh / 2, centre + wh / 2], 1), 0, 640))
    return np.concatenate(levels).astype(np.float32)
