"""The project's ``mmcv._ext`` (mmcv-lite): NMS equal to mmcv's compiled CPU NMS bit for bit, and the
other ops' stand-ins. The reference outputs were recorded from the compiled op
(tests/fixtures/record_nms_reference.py)."""
import importlib
import subprocess
import sys

import numpy as np
import pytest
import torch

import signpose  # noqa: F401  (installs the finder for mmcv._ext)
from signpose.install import mmcv_lite
from tests.support.anchor_boxes import rtmdet_anchor_boxes

FIXTURE = 'tests/fixtures/nms_reference.npz'
pytestmark = pytest.mark.skipif(not mmcv_lite.is_lite(), reason='a compiled mmcv is installed: its own ops run')


def reference_sets():
    from conftest import ROOT
    data = np.load(ROOT / FIXTURE)
    count = sum(1 for key in data.files if key.endswith('/keep'))
    return [(str(data[f'{k}/name']), data[f'{k}/boxes'], data[f'{k}/scores'], float(data[f'{k}/threshold']),
             int(data[f'{k}/offset']), data[f'{k}/keep']) for k in range(count)]


SETS = reference_sets()


def test_the_reference_covers_the_hard_cases():
    names = [s[0] for s in SETS]
    assert len(SETS) >= 300
    for kind in ('random', 'ties', 'at-threshold', 'degenerate', 'all-suppressed', 'thousands', 'empty'):
        assert any(name.startswith(kind) for name in names), kind
    assert {s[4] for s in SETS} == {0, 1}
    assert max(len(s[1]) for s in SETS) >= 5000
    # ties decide: some set keeps boxes of equal score in an order the sort alone fixes
    assert any(len(np.unique(s[2][s[5]])) < len(s[5]) for s in SETS if s[0].startswith('ties'))


PATHS = ['host', 'device', 'host-dense', 'host-small-steps']


def take_path(ext, path, monkeypatch):
    """Force one of the ways the op runs: CPU tensors (the sparse path, after dense blocks where
    boxes overlap much), any other device (dense blocks, forced here on CPU tensors), the host in
    dense blocks throughout, and the host going dense sooner, the sparse path in chunks of a few
    pairs and the greedy pass source by source."""
    if path == 'device':
        monkeypatch.setattr(ext, '_nms_on_host', ext._nms_on_device)
    elif path == 'host-dense':
        monkeypatch.setattr(ext, 'PAIRS_PER_BOX', -1)
    elif path == 'host-small-steps':
        monkeypatch.setattr(ext, 'CHUNK_PAIRS', 5)
        monkeypatch.setattr(ext, 'GREEDY_ROUNDS', 1)
        monkeypatch.setattr(ext, 'PAIRS_PER_BOX', 2)


@pytest.mark.parametrize('path', PATHS)
@pytest.mark.parametrize('index', range(len(SETS)), ids=[s[0] for s in SETS])
def test_nms_equals_the_compiled_cpu_nms(index, path, monkeypatch):
    ext = importlib.import_module('mmcv._ext')
    take_path(ext, path, monkeypatch)
    name, boxes, scores, threshold, offset, keep = SETS[index]
    got = ext.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou_threshold=threshold, offset=offset)
    assert got.dtype == torch.int64
    np.testing.assert_array_equal(got.numpy(), keep)


def test_a_frames_candidates_take_the_sparse_path(monkeypatch):
    """A frame's candidates as RTMDet gives them (a box per anchor, about twice the stride, on the
    three levels' grids: 8,400, nearly all kept) never reach a dense block on the CPU, whose cost
    grows with every pair (the sparse path's with the pairs that overlap); the same result as
    the dense blocks (held to the recording above)."""
    ext = importlib.import_module('mmcv._ext')
    rng = np.random.default_rng(3)
    boxes = torch.from_numpy(rtmdet_anchor_boxes(rng))
    scores = torch.from_numpy(rng.uniform(0.2, 0.3, len(boxes)).astype(np.float32))
    dense = ext._nms_on_device(boxes, scores, np.float32(0.65), 0)

    def no_dense_block(*args):
        raise AssertionError('a dense block ran')
    monkeypatch.setattr(ext, '_dense_block', no_dense_block)
    got = ext.nms(boxes, scores, iou_threshold=0.65, offset=0)
    np.testing.assert_array_equal(got.numpy(), dense.numpy())
    assert len(got) > 8000


def cxx_loop(boxes, scores, threshold, offset):
    """mmcv's C++ loop written out in float32 scalars: the oracle where no recording covers a case."""
    f = np.float32
    order = torch.from_numpy(scores).sort(0, descending=True)[1].numpy()
    x1, y1, x2, y2 = (boxes[:, k] for k in range(4))
    with np.errstate(all='ignore'):
        areas = (x2 - x1 + f(offset)) * (y2 - y1 + f(offset))
        select = np.ones(len(boxes), dtype=bool)
        for a, i in enumerate(order):
            if not select[a]:
                continue
            for b in range(a + 1, len(order)):
                j = order[b]
                if not select[b]:
                    continue
                xx1 = x1[j] if x1[i] < x1[j] else x1[i]  # std::max(ix1, x1[j])
                yy1 = y1[j] if y1[i] < y1[j] else y1[i]
                xx2 = x2[j] if x2[j] < x2[i] else x2[i]  # std::min(ix2, x2[j])
                yy2 = y2[j] if y2[j] < y2[i] else y2[i]
                w, h = xx2 - xx1 + f(offset), yy2 - yy1 + f(offset)
                w, h = (w if f(0) < w else f(0)), (h if f(0) < h else f(0))  # std::max(0.f, w)
                inter = w * h
                if inter / (areas[i] + areas[j] - inter) > f(threshold):
                    select[b] = False
    return order[select]


def odd_sets():
    """Boxes with NaN, infinite, huge and signed-zero coordinates, and thresholds below 0, at 0,
    at 1, infinite and NaN: cases the recorded sets leave out."""
    rng = np.random.default_rng(7)
    odd = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 3e38, -3e38, 1e-40], np.float32)
    thresholds = (0.5, -0.5, -0.0, 0.0, 1.0, np.inf, np.nan, 0.3)
    sets = []
    for k in range(48):
        n = int(rng.integers(2, 40))
        centre = rng.uniform(0, 60, (n, 2))
        size = rng.uniform(0, 30, (n, 2))
        boxes = np.concatenate([centre - size / 2, centre + size / 2], 1).astype(np.float32)
        spots = rng.choice(boxes.size, int(rng.integers(0, 6)), replace=False)
        boxes.flat[spots] = rng.choice(odd, spots.size)
        scores = rng.choice(np.array([0.9, 0.5, 0.2], np.float32), n) if k % 3 == 0 else rng.random(n, dtype=np.float32)
        sets.append((boxes, scores, float(thresholds[k % len(thresholds)]), k % 2))
    return sets


@pytest.mark.parametrize('path', PATHS)
def test_nms_equals_the_cxx_loop_on_odd_values(path, monkeypatch):
    ext = importlib.import_module('mmcv._ext')
    take_path(ext, path, monkeypatch)
    for boxes, scores, threshold, offset in odd_sets():
        got = ext.nms(torch.from_numpy(boxes), torch.from_numpy(scores), iou_threshold=threshold, offset=offset)
        np.testing.assert_array_equal(got.numpy(), cxx_loop(boxes, scores, threshold, offset),
                                      err_msg=f'threshold {threshold}, offset {offset}')


def test_the_threshold_is_strict_and_in_float32():
    ext = importlib.import_module('mmcv._ext')
    boxes = torch.tensor([[0., 0., 10., 10.], [0., 0., 10., 5.]])  # IoU exactly 0.5
    scores = torch.tensor([0.9, 0.8])
    assert ext.nms(boxes, scores, iou_threshold=0.5, offset=0).tolist() == [0, 1]  # 0.5 > 0.5 is false
    below = float(np.nextafter(np.float32(0.5), np.float32(0)))
    assert ext.nms(boxes, scores, iou_threshold=below, offset=0).tolist() == [0]
    # a double between two float32 values is rounded as pybind rounds it into the C++ float
    assert ext.nms(boxes, scores, iou_threshold=0.5 - 1e-12, offset=0).tolist() == [0, 1]


def test_mmcv_and_mmdet_wrappers_run_on_it():
    from mmcv.ops import batched_nms, nms
    boxes = torch.tensor([[49.1, 32.4, 51.0, 35.9], [49.3, 32.9, 51.0, 35.3], [49.2, 31.8, 51.0, 35.4],
                          [35.1, 11.5, 39.1, 15.7], [35.6, 11.8, 39.3, 14.2], [35.3, 11.5, 39.9, 14.5],
                          [35.2, 11.7, 39.7, 15.7]])
    scores = torch.tensor([0.9, 0.9, 0.5, 0.5, 0.5, 0.4, 0.3])
    dets, inds = nms(boxes, scores, 0.6)  # mmcv's docstring example: 3 kept
    assert len(inds) == len(dets) == 3
    dets_np, inds_np = nms(boxes.numpy(), scores.numpy(), 0.6)  # numpy in, numpy out
    np.testing.assert_array_equal(inds_np, inds.numpy())
    # mmdet's path: batched_nms offsets each class's boxes apart, so it keeps what NMS per class keeps
    labels = torch.tensor([0, 0, 0, 1, 1, 1, 1])
    dets, keep = batched_nms(boxes, scores, labels, dict(type='nms', iou_threshold=0.3))
    per_class = [int(torch.nonzero(labels == c)[i]) for c in (0, 1)
                 for i in nms(boxes[labels == c], scores[labels == c], 0.3)[1]]
    assert sorted(keep.tolist()) == sorted(per_class)
    assert dets.shape == (len(keep), 5)


def test_other_ops_raise_one_line_naming_the_op_and_the_fix():
    ext = importlib.import_module('mmcv._ext')
    with pytest.raises(mmcv_lite.MissingOpError) as err:
        ext.roi_align_forward(torch.zeros(1))
    assert 'roi_align_forward' in str(err.value) and 'MMCV_OPS=1 bash setup.sh' in str(err.value)
    assert '\n' not in str(err.value)
    with pytest.raises(AttributeError):
        ext.__wrapped__  # noqa: B018  (dunders must not exist: inspect and pickle probe them)


def test_missing_ops_names_a_models_layers_that_need_compiled_ops():
    from mmcv.ops import DeformConv2d, RoIAlign
    model = torch.nn.Sequential(RoIAlign((2, 2)), torch.nn.Conv2d(1, 1, 1), DeformConv2d(1, 1, 3))
    found = mmcv_lite.missing_ops(model)
    assert any(entry.startswith('RoIAlign (roi_align_forward') for entry in found), found
    assert any(entry.startswith('DeformConv2d (deform_conv_forward') for entry in found), found
    assert mmcv_lite.missing_ops(torch.nn.Sequential(torch.nn.Conv2d(1, 1, 1))) == []


def test_installed_in_a_fresh_process_by_importing_signpose_only():
    code = ('import signpose, mmdet.apis, mmpose.apis, inspect, sys; from mmcv.ops import nms; '
            'inspect.getmembers(sys.modules["mmcv._ext"]); print(sys.modules["mmcv._ext"].__file__)')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout
    assert out.strip().endswith('mmcv_ext.py')


def _startup_hook():
    import sysconfig
    from pathlib import Path
    hook = Path(sysconfig.get_paths()['purelib']) / 'signpose_mmcv_ext.pth'
    if not hook.is_file():
        pytest.skip(f'{hook} is missing: bash setup.sh writes it (scripts/gpu_kit.sh does not)')
    return hook


def _fresh(code: str, cwd):
    """``code`` in a fresh interpreter of this environment, from ``cwd``, without PYTHONPATH."""
    import os
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run([sys.executable, '-c', code], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_mmdet_and_mmpose_apis_import_anywhere_without_signpose(tmp_path):
    """setup.sh's start-up hook: the APIs import from any folder, signpose imported only when mmcv._ext is."""
    _startup_hook()
    code = ('import sys\n'
            'from mmdet.apis import init_detector, inference_detector\n'
            'from mmpose.apis import init_model, inference_topdown, MMPoseInferencer\n'
            'import os, signpose; ext = sys.modules["mmcv._ext"].__file__\n'
            'print(os.path.basename(ext), ext.startswith(os.path.dirname(signpose.__file__) + os.sep))')
    result = _fresh(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == 'mmcv_ext.py True', result.stdout  # the project's NMS


def test_the_startup_hook_imports_nothing(tmp_path):
    _startup_hook()
    result = _fresh('import sys; print(sorted(n for n in ("signpose", "torch", "mmcv", "mmdet", "mmpose", "numpy") '
                    'if n in sys.modules), sum(type(f).__name__ == "SignposeMmcvExt" for f in sys.meta_path))', tmp_path)
    assert (result.returncode, result.stdout, result.stderr) == (0, '[] 1\n', '')
