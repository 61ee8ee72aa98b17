"""The 3D SimCC codec of RTMW3D: decoding of the head's three 1D classifications."""
from typing import Sequence, Tuple, Union

import numpy as np
from mmpose.codecs.base import BaseKeypointCodec
from mmpose.registry import KEYPOINT_CODECS

# Training-set statistics of RTMW3D (facts of the official model, not tunables).
MEAN_ROOT_DEPTH = 5.14388  # metres from the camera to the root (mid-hip)
Z_RANGE = 2.1744869  # metres covered by half of the z classification range


@KEYPOINT_CODECS.register_module()
class SimCC3DLabel(BaseKeypointCodec):
    """Decode SimCC x/y/z logits into crop-pixel x, y and root-relative z in metres.

    Inference only: ``encode`` (training labels) is not implemented.

    Args:
        input_size: (w, h, d) of the model input; d is the size of the z axis in "pixels".
        sigma, normalize, use_dark: accepted for config compatibility; the official
            RTMW3D configs use ``use_dark=False``, the only decoding implemented here.
        simcc_split_ratio: bins per input pixel.
        root_index: the root keypoints (the hips, 11 and 12) whose mean depth is the root.
        z_range: metres covered by half of the z axis.
    """

    # Fields that the (absent) encoder would pack; kept so pipelines that ask find them.
    label_mapping_table = dict()
    instance_mapping_table = dict(bbox='bboxes', bbox_score='bbox_scores', bbox_scale='bbox_scales')

    def __init__(self,
                 input_size: Tuple[int, int, int],
                 sigma: Union[float, Sequence[float]] = 6.0,
                 simcc_split_ratio: float = 2.0,
                 normalize: bool = True,
                 use_dark: bool = False,
                 root_index: Union[int, Sequence[int]] = 0,
                 z_range: float = None) -> None:
        super().__init__()
        if use_dark:
            raise NotImplementedError('SimCC3DLabel: use_dark=True is not implemented '
                                      '(the RTMW3D configs use use_dark=False)')
        self.input_size = tuple(input_size)
        self.sigma = np.broadcast_to(np.asarray(sigma, dtype=np.float64), (3,)).copy()
        self.simcc_split_ratio = simcc_split_ratio
        self.normalize = normalize
        self.use_dark = use_dark
        self.root_index = list(root_index) if isinstance(root_index, (tuple, list)) else [root_index]
        self.z_range = Z_RANGE if z_range is None else z_range
        self.root_z = MEAN_ROOT_DEPTH

    def encode(self, keypoints, keypoints_visible=None):
        raise NotImplementedError('SimCC3DLabel here is for inference only (no training labels)')

    def decode(self, x: np.ndarray, y: np.ndarray,
               z: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Decode logits of shape (N, K, Wx), (N, K, Wy), (N, K, Wz) (or without N).

        Returns:
            keypoints (N, K, 3): x, y in input-crop pixels and z root-relative in metres;
            keypoints_simcc (N, K, 3): x, y, z in input pixels (z in "depth pixels");
            scores (N, K): the smaller of the x and y maxima (z does not count), unbounded.
        """
        if x.ndim == 2:
            x, y, z = x[None], y[None], z[None]
        locations = np.stack([x.argmax(-1), y.argmax(-1), z.argmax(-1)], axis=-1)
        return self.decode_maxima(locations, np.minimum(x.max(-1), y.max(-1)))

    def decode_maxima(self, locations: np.ndarray,
                      scores: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rest of ``decode`` from the logits' argmax per axis (N, K, 3) and the smaller of
        the x and y maxima (N, K): all the decoding needs of the logits, so that a head on a
        GPU can reduce them there and copy back only these."""
        # a keypoint whose score is not positive is marked -1
        locs = np.asarray(locations).astype(np.float32)
        scores = np.asarray(scores)
        locs[scores <= 0.] = -1

        keypoints = locs / self.simcc_split_ratio
        keypoints_simcc = keypoints.copy()
        half_depth = self.input_size[2] / 2
        keypoints[..., 2] = (keypoints[..., 2] / half_depth - 1) * self.z_range
        return keypoints, keypoints_simcc, scores
