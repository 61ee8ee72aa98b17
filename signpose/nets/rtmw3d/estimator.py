"""Top-down 3D pose estimator: maps RTMW3D's crop-space predictions to image pixels and camera space."""
from itertools import zip_longest

import numpy as np
from mmpose.models.pose_estimators import TopdownPoseEstimator
from mmpose.registry import MODELS

from .codec import MEAN_ROOT_DEPTH

# Default pinhole camera of RTMW3D when a sample carries no camera parameters (pixels).
DEFAULT_FOCAL = (1145.04940459, 1143.78109572)


@MODELS.register_module()
class TopdownPoseEstimator3D(TopdownPoseEstimator):
    """Top-down estimator whose head predicts crop x, y and root-relative z.

    ``test_cfg['mode']`` picks what ``pred_instances.keypoints`` holds:
      - '3d' (default): camera-space x, y, z in metres, z = root-relative z + root depth
        (the sample's ``root_z`` if given, else the codec's mean root depth), x and y by the
        pinhole model with the sample's camera, else focal ``DEFAULT_FOCAL`` and the principal
        point at the image centre;
      - '2d': image pixels (u, v);
      - 'vis': the decoded SimCC locations in input-crop units.
    In every mode ``transformed_keypoints`` holds image pixels (u, v) and ``keypoint_depths``
    the root-relative z in metres (negative in front of the hips).
    """

    def add_pred_to_datasample(self, batch_pred_instances, batch_pred_fields, batch_data_samples):
        assert len(batch_pred_instances) == len(batch_data_samples)
        mode = self.test_cfg.get('mode', '3d')
        if mode not in ('2d', '3d', 'vis'):
            raise ValueError(f"test_cfg.mode must be '2d', '3d' or 'vis', not {mode!r}")
        out_indices = self.test_cfg.get('output_keypoint_indices', None)

        for pred, fields, sample in zip_longest(batch_pred_instances, batch_pred_fields or [],
                                                batch_data_samples):
            gt = sample.gt_instances
            center = sample.metainfo['input_center']
            scale = sample.metainfo['input_scale']
            size = sample.metainfo['input_size']

            crop = pred.keypoints  # (N, K, 3): crop pixels x, y; root-relative z in metres
            # crop pixels -> image pixels, inverting the top-down affine (no rotation at test)
            uv = crop[..., :2] / size * scale + center - 0.5 * scale
            root_z = np.asarray(gt.get('root_z', [MEAN_ROOT_DEPTH]), dtype=np.float64)
            depth = crop[..., 2] + root_z

            camera = gt.get('camera_params', None)
            if camera is not None:
                focal, principal = np.array(camera[0]['f']), np.array(camera[0]['c'])
            else:
                height, width = sample.ori_shape[:2]  # ori_shape is (h, w): the centre is (w/2, h/2)
                focal, principal = np.array(DEFAULT_FOCAL), np.array([width, height]) / 2
            camera_xy = (uv - principal) / focal * depth[..., None]

            pred.keypoint_depths = crop[..., 2].copy()
            pred.transformed_keypoints = uv
            if mode == '3d':
                pred.keypoints = np.concatenate([camera_xy, depth[..., None]], axis=-1)
            elif mode == '2d':
                pred.keypoints = uv
            else:
                pred.keypoints = pred.keypoints_simcc
            if 'keypoints_visible' not in pred:
                pred.keypoints_visible = pred.keypoint_scores

            if out_indices is not None:
                num_keypoints = pred.keypoints.shape[1]
                for key, value in pred.all_items():
                    if key.startswith('keypoint'):
                        pred.set_field(value[:, out_indices], key)
            pred.bboxes = gt.bboxes
            pred.bbox_scores = gt.bbox_scores
            sample.pred_instances = pred

            if fields is not None:
                if out_indices is not None:
                    for key, value in fields.all_items():
                        if value.shape[0] == num_keypoints:
                            fields.set_field(value[out_indices], key)
                sample.pred_fields = fields
        return batch_data_samples
