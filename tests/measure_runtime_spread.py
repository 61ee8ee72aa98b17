"""How far each runtime's RTMW3D-L is from the golden outputs on this CPU (the bounds of test_runtimes.py).

    python tests/measure_runtime_spread.py

Prints, per runtime (PyTorch, ONNX Runtime, OpenVINO), the largest deviation of each logit axis from
tests/fixtures/rtmw3d-l_seeded.npz, the same network's batch-1 vs batch-2 logits, and the decoded
keypoints and scores; then what single perturbed weights do to the logits. Run it on each kind of CPU
whose figures test_runtimes.py quotes (about 2 minutes: two exports).
"""
import copy
import tempfile
from pathlib import Path

import cv2
import numpy as np
import torch
from conftest import FIXTURES, RTMW3D_L
from test_runtimes import _pose_batch, _runtime

from signpose.speed import runtimes
from signpose.nets.loading import load_pose_model
from tests.support.seeded_weights import make_seeded_checkpoint

AXES = ('simcc_x', 'simcc_y', 'simcc_z')


def main():
    work = Path(tempfile.mkdtemp())
    scene = cv2.imread(str(FIXTURES / 'scene.png'))
    golden = np.load(FIXTURES / 'rtmw3d-l_seeded.npz')
    model = load_pose_model(RTMW3D_L, str(make_seeded_checkpoint('pose', RTMW3D_L, work / 'pose.pth', salt=0)))
    boxes = [golden['bbox'], golden['bbox'] + np.array([-7, 5, 3, 9], dtype=np.float32)]
    one, two = _pose_batch(model, scene, boxes[:1]), _pose_batch(model, scene, boxes)
    inputs = [model.data_preprocessor(b, False)['inputs'] for b in (one, two)]
    for backend in ('pytorch', 'onnxruntime', 'openvino'):
        if backend == 'pytorch':
            with torch.no_grad():
                logits = [model.head(model.extract_feat(x)) for x in inputs]
                pred = model.test_step(one)[0].pred_instances
        else:
            estimator = runtimes.RuntimePoseEstimator(model, *_runtime(backend, work / 'cache'))
            logits = [estimator.network.run(x) for x in inputs]
            pred = estimator.test_step(one)[0].pred_instances
        for i, axis in enumerate(AXES):
            d = np.abs(logits[0][i][0].numpy() - golden[axis])
            batch = np.abs(logits[1][i][0].numpy() - logits[0][i][0].numpy()).max()
            print(f'{backend:12s} {axis}: max |logit - golden| {d.max():.3e} (of {d.size} values up to '
                  f'{np.abs(golden[axis]).max():.2f}); batch 2 vs 1: {batch:.3e}')
        for name, key in (('transformed_keypoints', 'transformed_keypoints'),
                          ('keypoints', 'keypoints_3d_camera_centred'), ('keypoint_scores', 'keypoint_scores')):
            print(f'{backend:12s} {name}: max |d| {np.abs(np.asarray(getattr(pred, name))[0] - golden[key]).max():.3e}')
    for name in ('backbone.stem.0.conv.weight', 'head.cls_z.weight'):
        for delta in (1e-3, 1e-2):
            faulty = copy.deepcopy(model)
            with torch.no_grad():
                dict(faulty.named_parameters())[name].view(-1)[0] += delta
                out = faulty.head(faulty.extract_feat(inputs[0]))
            d = max(np.abs(out[i][0].numpy() - golden[axis]).max() for i, axis in enumerate(AXES))
            print(f'pytorch, {name}[0] += {delta}: max |logit - golden| {d:.3e}')


if __name__ == '__main__':
    main()
