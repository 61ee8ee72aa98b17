"""The stage on a CUDA device: fidelity, the engine against the per-frame loop, fp16, NMS, memory.

Skipped where CUDA is not available (CI). On a GPU machine: ``python -m pytest -q tests/test_gpu.py``
(or the GPU kit, see docs/gpu.md). ``GPU_TESTS_DEVICE=cpu`` runs the device-independent ones on the
CPU, to check the tests themselves where there is no GPU.

Tolerances, and why they are wider than on the CPU:
- golden cases in fp32 (TF32 off): RTMW3D-L logits within 1e-3 of the reference (1e-4 on the CPU:
  cuDNN's float32 convolution algorithms round differently from the reference's CPU kernels, and
  the head's ScaleNorm magnifies it), scores within 1e-3; the image keypoints of every keypoint
  whose reference logits leave the runner-up bin more than 2e-3 behind are the same bins (within
  1e-3 px); RTMDet-M's boxes as a set, scores within 1e-3 and corners within 0.5 px, at most 3 of
  the 300 exchanged at the cut-off of near-tied scores;
- the engine against the per-frame loop: the same frames with a person, and 99% of all values
  within 1e-4 (cuDNN picks kernels per batch size, so batches of 16 frames and 64 crops do not give
  the bits of batches of one; a near-tied logit may then take the neighbouring bin);
- fp16 against fp32: the same frames with a person, 90% of x and y within 1% of the frame.
"""
import copy
import importlib
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import FIXTURES, RTMDET_M, RTMW3D_L, extractor_for, networks_for, run_engine, seeded_models, write_video

from signpose.config import Options, Settings, load_settings
from signpose.data.manifest import Segment
from signpose.data.tasks import VideoTask
from signpose.data.video import probe
from tests.support.per_frame_reference import PerFrameModels, process_video_per_frame
from signpose.install.checkpoints import install_safe_checkpoint_loader
from signpose.nets.devices import resolve
from signpose.nets.loading import LoadedModels, load_detector, load_pose_model
from signpose.speed.precision import precision_context
from signpose.run.work import process_video
from tests.support.seeded_weights import make_seeded_checkpoint

DEVICE = os.environ.get('GPU_TESTS_DEVICE', 'cuda:0')
CUDA = DEVICE.startswith('cuda')
pytestmark = pytest.mark.skipif(CUDA and not torch.cuda.is_available(), reason='needs a CUDA device')
cuda_only = pytest.mark.skipif(not CUDA, reason='CUDA only')
MiB = 2 ** 20


@pytest.fixture(scope='module')
def golden_rtmw3d():
    return np.load(FIXTURES / 'rtmw3d-l_seeded.npz')


def test_rtmw3d_l_reproduces_the_reference_in_fp32(tmp_path, golden_rtmw3d, scene):
    from mmpose.apis import inference_topdown
    golden = golden_rtmw3d
    model = load_pose_model(RTMW3D_L, str(make_seeded_checkpoint('pose', RTMW3D_L, tmp_path / 'p.pth',
                                                                 salt=int(golden['salt']))), DEVICE)
    seen = {}
    model.head.register_forward_hook(lambda module, args, out: seen.__setitem__('logits', out))
    with torch.inference_mode(), precision_context('fp32', DEVICE):
        pred = inference_topdown(model, scene, golden['bbox'][None])[0].pred_instances
    for logits, name in zip(seen['logits'], ('simcc_x', 'simcc_y', 'simcc_z')):
        np.testing.assert_allclose(logits[0].float().cpu().numpy(), golden[name], rtol=0, atol=1e-3)
    np.testing.assert_allclose(pred.keypoint_scores[0], golden['keypoint_scores'], rtol=0, atol=1e-3)
    clear = np.ones(len(golden['keypoint_scores']), dtype=bool)
    for name in ('simcc_x', 'simcc_y'):
        top2 = np.sort(golden[name], axis=-1)[:, -2:]
        clear &= top2[:, 1] - top2[:, 0] > 2e-3
    assert clear.mean() > 0.5  # most keypoints are decided by a clear margin
    np.testing.assert_allclose(pred.transformed_keypoints[0][clear], golden['transformed_keypoints'][clear],
                               rtol=0, atol=1e-3)


def test_rtmdet_m_reproduces_the_reference_boxes_in_fp32(tmp_path, scene):
    from mmdet.apis import inference_detector
    golden = np.load(FIXTURES / 'rtmdet_m_coco_seeded.npz')
    install_safe_checkpoint_loader()
    detector = load_detector(RTMDET_M, str(make_seeded_checkpoint('det', RTMDET_M, tmp_path / 'd.pth',
                                                                  salt=int(golden['salt']))), DEVICE)
    with precision_context('fp32', DEVICE):
        pred = inference_detector(detector, scene).pred_instances.cpu().numpy()
    assert len(pred.scores) == len(golden['scores'])
    unmatched = 0
    for box, score, label in zip(golden['bboxes'], golden['scores'], golden['labels']):
        match = (pred.labels == label) & (np.abs(pred.scores - score) <= 1e-3) & \
                (np.abs(pred.bboxes - box).max(axis=1) <= 0.5)
        unmatched += not match.any()
    assert unmatched <= 3


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """Seeded RTMDet-nano (one box per frame) and RTMW3D-L on the device."""
    return seeded_models(tmp_path_factory.mktemp('gpu_models'), DEVICE)


def _settings(npy, **overrides):
    """The stage's settings for the device: its batch sizes (16 frames, 64 crops on CUDA)."""
    decided = resolve(Options.of(load_settings()).compute, DEVICE)
    values = dict(vars(load_settings()), NPY_DIR=str(npy), BBOX_THR=0.0, DEVICE=DEVICE, CPU_THREADS=decided.cpu_threads,
                  DET_BATCH_SIZE=decided.det_batch_size, POSE_BATCH_SIZE=decided.pose_batch_size,
                  HOST_THREADS=decided.host_threads)
    values.update(overrides)
    npy.mkdir(parents=True, exist_ok=True)
    return Settings(**values)


@pytest.fixture(scope='module')
def video_task(tmp_path_factory):
    """About 3 s at 30 fps: 4 full detector batches and a full pose batch of 64 crops."""
    d = tmp_path_factory.mktemp('gpu_video')
    video = write_video(d / 'v.mp4', 100, 30.0, size=(320, 240), seed=11)
    return VideoTask('v', probe(video), [Segment('v', 'a', 0.0, 2.0), Segment('v', 'b', 1.5, 3.3)])


def _arrays(folder):
    return {p.stem: np.load(p) for p in sorted(folder.glob('*.npy'))}


def _person_frames(array):
    return (array != 0).any(axis=(1, 2))


@pytest.fixture(scope='module')
def engine_fp32(models, video_task, tmp_path_factory):
    settings = _settings(tmp_path_factory.mktemp('engine_fp32'))
    outcomes = run_engine(video_task, models, settings)
    assert {o.status for o in outcomes} == {'written'}
    return _arrays(Path(settings.NPY_DIR))


def test_engine_equals_the_per_frame_loop(models, video_task, engine_fp32, tmp_path):
    reference = Options.of(_settings(tmp_path / 'loop'))
    list(process_video_per_frame(video_task, PerFrameModels(models, reference), reference))
    expected = _arrays(tmp_path / 'loop')
    assert set(expected) == set(engine_fp32) == {'a', 'b'}
    for name, want in expected.items():
        got = engine_fp32[name]
        assert got.shape == want.shape
        np.testing.assert_array_equal(_person_frames(got), _person_frames(want))
        close = np.abs(got - want) <= 1e-4
        assert close.mean() >= 0.99, f'{name}: {100 * close.mean():.2f}% of the values within 1e-4'


@cuda_only
def test_fp16_stays_within_its_bounds_of_fp32(models, video_task, engine_fp32, tmp_path):
    settings = _settings(tmp_path, PRECISION='fp16')
    run_engine(video_task, models, settings)
    half = _arrays(tmp_path)
    for name, want in engine_fp32.items():
        got = half[name]
        np.testing.assert_array_equal(_person_frames(got), _person_frames(want))
        assert np.isfinite(got).all()
        near = np.abs(got[..., :2] - want[..., :2]) <= 0.01
        assert near.mean() >= 0.9, f'{name}: {100 * near.mean():.1f}% of x, y within 1% of the frame'


@cuda_only
def test_nms_runs_on_the_device_and_keeps_the_same_persons(models, tmp_path, scene, monkeypatch):
    """mmcv-lite: the project's NMS runs where the boxes are; the persons equal the CPU's."""
    nms_module = importlib.import_module('mmcv.ops.nms')
    frames = [scene, scene[:, ::-1].copy(), scene[::2, ::2].copy()]
    cpu = LoadedModels(copy.deepcopy(models.detector).to('cpu'), models.pose, 'cpu')
    reference = networks_for(cpu, _settings(tmp_path / 'cpu', DEVICE='cpu'))[0].detector.detect(frames)
    real, devices = nms_module.ext_module.nms, []

    def recording(boxes, scores, *args, **kwargs):
        devices.append(boxes.device.type)
        return real(boxes, scores, *args, **kwargs)

    monkeypatch.setattr(nms_module.ext_module, 'nms', recording)
    got_all = networks_for(models, _settings(tmp_path))[0].detector.detect(frames)
    assert devices and set(devices) == {torch.device(DEVICE).type}
    for got, want in zip(got_all, reference):
        assert len(got) == len(want) == 1
        np.testing.assert_allclose(got.boxes, want.boxes, rtol=0, atol=0.05)


@cuda_only
def test_gpu_memory_is_flat_over_two_videos(models, tmp_path):
    settings = _settings(tmp_path)
    extractor = extractor_for(models, settings)
    peaks, after = [], []
    for i in range(2):
        video = write_video(tmp_path / f'm{i}.mp4', 100, 30.0, size=(320, 240), seed=20 + i)
        task = VideoTask(f'm{i}', probe(video), [Segment(f'm{i}', f'm{i}', 0.0, 3.3)])
        torch.cuda.synchronize(DEVICE)
        torch.cuda.reset_peak_memory_stats(DEVICE)
        assert [o.status for o in process_video(task, extractor, extractor.options.output)] == ['written']
        torch.cuda.synchronize(DEVICE)
        peaks.append(torch.cuda.max_memory_allocated(DEVICE))
        after.append(torch.cuda.memory_allocated(DEVICE))
    assert after[1] <= after[0] + 16 * MiB, f'allocated after each video: {[a / MiB for a in after]} MiB'
    assert peaks[1] <= peaks[0] * 1.1 + 16 * MiB, f'peaks: {[p / MiB for p in peaks]} MiB'
