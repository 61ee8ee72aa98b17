"""The batched engine computes what the design's per-frame loop computes, on real models."""
import cv2
import numpy as np
import pytest
import torch
from conftest import RTMDET_M, networks_for, run_engine, seeded_models, write_video

from signpose.config import Options, Settings, load_settings
from signpose.data.manifest import Segment
from signpose.data.tasks import VideoTask
from signpose.data.video import probe
from tests.support.per_frame_reference import PerFrameModels, process_video_per_frame
from tests.support.seeded_weights import make_seeded_checkpoint
from signpose.install.checkpoints import install_safe_checkpoint_loader
from signpose.nets.detector import BatchedDetector
from signpose.nets.loading import LoadedModels


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    return seeded_models(tmp_path_factory.mktemp('engine'))


def _settings(npy, **overrides):
    values = dict(vars(load_settings()), NPY_DIR=str(npy), BBOX_THR=0.0, DEVICE='cpu')
    values.update(overrides)
    npy.mkdir(parents=True, exist_ok=True)
    return Settings(**values)


@pytest.mark.parametrize('host_threads', [False, True], ids=['cpu-inline', 'host-threads'])
def test_engine_output_equals_the_per_frame_loop(models, tmp_path, host_threads):
    video = write_video(tmp_path / 'v.mp4', 70, 30.0, size=(200, 150), seed=3)
    task = VideoTask('v', probe(video), [Segment('v', 'a', 0.0, 0.9), Segment('v', 'b', 0.6, 1.4),
                                         Segment('v', 'c', 1.8, 2.3)])
    reference = _settings(tmp_path / 'reference')
    # HOST_THREADS: the pipelines in the decode and crop threads, as on a GPU
    engine = _settings(tmp_path / 'engine', DET_BATCH_SIZE=3, POSE_BATCH_SIZE=4, DECODE_QUEUE=5,
                       HOST_THREADS=host_threads)
    reference = Options.of(reference)
    expected = list(process_video_per_frame(task, PerFrameModels(models, reference), reference))
    got = run_engine(task, models, engine)
    assert sorted((o.sentence, o.status, o.frames) for o in got) == \
        sorted((o.sentence, o.status, o.frames) for o in expected)
    assert {o.status for o in got} == {'written'}
    for name in 'abc':
        a = np.load(tmp_path / 'reference' / f'{name}.npy')
        b = np.load(tmp_path / 'engine' / f'{name}.npy')
        assert a.shape == b.shape
        np.testing.assert_array_equal((a != 0).all(axis=(1, 2)), (b != 0).all(axis=(1, 2)))
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-5)


def test_raised_score_threshold_keeps_exactly_the_persons_above_it(tmp_path, scene):
    """Many near-equal random boxes: the engine's pruned post-processing keeps the same persons."""
    from mmdet.apis import inference_detector, init_detector
    install_safe_checkpoint_loader()
    checkpoint = make_seeded_checkpoint('det', RTMDET_M, tmp_path / 'm.pth', salt=0)
    detector = init_detector(RTMDET_M, str(checkpoint), device='cpu')
    from mmpose.utils import adapt_mmdet_pipeline
    detector.cfg = adapt_mmdet_pipeline(detector.cfg)
    frames = [scene, cv2.flip(scene, 1), cv2.resize(scene, (320, 240))]
    everything = inference_detector(detector, scene).pred_instances.cpu().numpy()
    # random weights find no 'person': test with the class they find most, at thresholds
    # that leave several boxes of it
    category = int(np.bincount(everything.labels).argmax())
    scores = np.sort(everything.scores[everything.labels == category])[::-1]
    for thr in (float(scores[8]), float(scores[3])):
        s = load_settings().replace(BBOX_THR=thr, DET_CAT_ID=category, PRECISION='fp32')
        expected = PerFrameModels(LoadedModels(detector, None, 'cpu'), Options.of(s)).detect(frames)
        found = BatchedDetector(detector, 'cpu', s.DET_CAT_ID, s.BBOX_THR, s.PRECISION).detect(frames)
        assert len(expected[0]) > 1  # the case that matters: several boxes
        for e, g in zip(expected, found):
            assert len(e) == len(g)  # the same persons; coordinates up to float rounding
            e, g = e.boxes, g.boxes
            order_e, order_g = np.lexsort(np.round(e).T), np.lexsort(np.round(g).T)
            np.testing.assert_allclose(g[order_g], e[order_e], rtol=0, atol=1e-3)
    assert detector.bbox_head.test_cfg['score_thr'] == 0.001  # restored after each call


def _model_state(model):
    """What a call could leave changed on a shared model: patched forwards, test configs, copy mode."""
    return ([name for name, m in model.named_modules() if 'forward' in m.__dict__],
            [(name, id(m.test_cfg)) for name, m in model.named_modules() if getattr(m, 'test_cfg', None) is not None],
            model.data_preprocessor._non_blocking)


def test_inference_leaves_the_shared_models_as_loaded(models, tmp_path):
    """The rewrites, raised score thresholds and precision switches hold for one call only."""
    before = [_model_state(m) for m in (models.detector, models.pose)]
    frame = np.full((150, 200, 3), 90, np.uint8)
    networks, _ = networks_for(models, _settings(tmp_path, DET_BATCH_SIZE=2, POSE_BATCH_SIZE=2, PRECISION='bf16'
                                                 if torch.ops.mkldnn._is_mkldnn_bf16_supported() else 'fp32'))
    networks.detector.detect([frame, frame])
    networks.estimator.estimate([frame], [np.array([20, 10, 180, 140], np.float32)])
    assert networks.detector.speedups.patches  # there were rewrites to switch on and off
    assert [_model_state(m) for m in (models.detector, models.pose)] == before

