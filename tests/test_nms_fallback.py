"""The detector's NMS on a CUDA device with an mmcv built without CUDA ops, checked on the CPU.

There is no GPU here, so a TorchFunctionMode stands in for one: a tensor "on cuda:0" is a CPU
tensor tagged as such; ``.device`` says cuda:0, ``.to('cuda:0')``/``.cpu()`` move it, every op on
such tensors gives tensors on cuda:0, and mmcv's compiled ``nms`` raises mmcv's own error for
them, as a build without CUDA ops does. Everything else (mmcv's and mmdet's Python code, mmcv's
compiled CPU op) runs as shipped. Every patch is undone after each test.
"""
import importlib

import pytest
import torch
from torch.overrides import TorchFunctionMode

from signpose.config import load_settings
from signpose.nets import loading as models
from signpose.nets import nms_fallback
from signpose.nets.nms_fallback import MISSING_IMPLEMENTATION, CpuNmsExt, cuda_nms_works, ensure_device_nms, \
    use_cpu_nms_for_cuda

CUDA = torch.device('cuda', 0)
CPU = torch.device('cpu')
# What mmcv's dispatcher (csrc/common/pytorch_device_registry.hpp) raises for a CUDA tensor
# when mmcv was built without its CUDA ops.
MMCV_ERROR = 'nms_impl: implementation for device cuda:0 not found.\n'

NMS = importlib.import_module('mmcv.ops.nms')  # the module: mmcv.ops.nms is the function
COMPILED = importlib.import_module('mmcv._ext')


def on_cuda(tensor) -> bool:
    return isinstance(tensor, torch.Tensor) and getattr(tensor, '_on_fake_cuda', False)


def _tagged(tensor, cuda: bool):
    tensor._on_fake_cuda = cuda
    return tensor


def _is_cuda(arg) -> bool:
    return isinstance(arg, (str, torch.device)) and torch.device(arg).type == 'cuda'


def _inputs(args, kwargs):
    found = []
    for arg in list(args) + list(kwargs.values()):
        if isinstance(arg, torch.Tensor):
            found.append(arg)
        elif isinstance(arg, (list, tuple)):
            found.extend(a for a in arg if isinstance(a, torch.Tensor))
    return found


def _tag_outputs(out, inputs):
    if isinstance(out, torch.Tensor):
        if not any(out is t for t in inputs):  # in-place results keep their device
            _tagged(out, True)
    elif isinstance(out, (list, tuple)):  # tuples, lists, torch.return_types
        for item in out:
            _tag_outputs(item, inputs)
    return out


class FakeCuda(TorchFunctionMode):
    """cuda:0 without a GPU: CPU tensors tagged as being on it."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if func == torch.Tensor.device.__get__:
            return CUDA if on_cuda(args[0]) else func(*args)
        if func == torch.Tensor.is_cuda.__get__:
            return on_cuda(args[0])
        if func is torch.Tensor.cpu:
            return _tagged(args[0].clone(), False)
        if func is torch.Tensor.to:
            targets = [a for a in list(args[1:]) + list(kwargs.values())
                       if isinstance(a, (str, torch.device, torch.Tensor))]
            to_cuda = any(on_cuda(a) if isinstance(a, torch.Tensor) else _is_cuda(a) for a in targets)
            cuda = to_cuda if targets else on_cuda(args[0])
            args = tuple('cpu' if _is_cuda(a) else a for a in args)
            kwargs = {k: 'cpu' if _is_cuda(v) else v for k, v in kwargs.items()}
            out = func(*args, **kwargs)
            if out is args[0] and cuda != on_cuda(args[0]):
                out = out.clone()  # a move makes a new tensor
            return _tagged(out, cuda)
        cuda_factory = _is_cuda(kwargs.get('device'))
        if cuda_factory:
            kwargs['device'] = 'cpu'
        inputs = _inputs(args, kwargs)
        out = func(*args, **kwargs)
        if cuda_factory or any(on_cuda(t) for t in inputs):
            _tag_outputs(out, inputs)
        return out


@pytest.fixture
def compiled(monkeypatch):
    """mmcv's compiled nms as a build without CUDA ops has it; records the devices it gets.

    Also restores mmcv.ops.nms's ``ext_module`` after the test, whatever installed the fallback."""
    monkeypatch.setattr(NMS, 'ext_module', NMS.ext_module)
    real = COMPILED.nms
    calls = []

    def nms(boxes, scores, **kwargs):
        calls.append((boxes.device, scores.device, len(boxes)))
        if on_cuda(boxes) or on_cuda(scores):
            raise RuntimeError(MMCV_ERROR)
        return real(boxes, scores, **kwargs)

    monkeypatch.setattr(COMPILED, 'nms', nms)
    return calls


def random_boxes(seed: int, n: int = 300, classes: int = 4):
    """Clusters of overlapping boxes (as a detector's candidates are), several classes."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(n // 6, 2, generator=g) * 600
    which = torch.randint(0, len(centres), (n,), generator=g)
    xy = centres[which] + torch.randn(n, 2, generator=g) * 6
    wh = 40 + torch.rand(n, 2, generator=g) * 80 + torch.randn(n, 2, generator=g).abs() * 4
    boxes = torch.cat([xy - wh / 2, xy + wh / 2], 1).float()
    scores = torch.rand(n, generator=g).float()
    labels = torch.randint(0, classes, (n,), generator=g)
    return boxes, scores, labels


def to_fake_cuda(*tensors):
    with FakeCuda():
        return [t.to('cuda:0') for t in tensors]


def assert_same(got, want):
    assert got.dtype == want.dtype and got.shape == want.shape
    assert torch.equal(got, want)  # bit for bit


def test_the_pattern_matches_the_error_of_the_compiled_op():
    # The meta device has no implementation either: the real binary's own message, device aside.
    with pytest.raises(RuntimeError) as err:
        COMPILED.nms(torch.zeros(2, 4, device='meta'), torch.zeros(2, device='meta'),
                     iou_threshold=0.5, offset=0)
    assert MISSING_IMPLEMENTATION.search(str(err.value)), str(err.value)
    assert str(err.value) == MMCV_ERROR.replace('cuda:0', 'meta')
    assert MISSING_IMPLEMENTATION.search(MMCV_ERROR)


def test_the_simulation_reproduces_the_failure(compiled):
    boxes, scores, labels = random_boxes(0)
    boxes, scores, labels = to_fake_cuda(boxes, scores, labels)
    with FakeCuda(), pytest.raises(RuntimeError, match='implementation for device cuda:0 not found'):
        NMS.batched_nms(boxes, scores, labels, dict(iou_threshold=0.6))


def test_cuda_nms_works_is_false_for_the_missing_implementation(compiled):
    with FakeCuda():
        assert cuda_nms_works('cuda:0') is False
    assert compiled == [(CUDA, CUDA, 3)]


def test_cuda_nms_works_is_true_when_the_op_runs(monkeypatch, compiled):
    real = COMPILED.nms
    monkeypatch.setattr(COMPILED, 'nms', lambda b, s, **kw: real(b.cpu(), s.cpu(), **kw).to(b.device))
    with FakeCuda():
        assert cuda_nms_works('cuda:0') is True


def test_cuda_nms_works_checks_the_compiled_op_even_with_the_fallback_installed(compiled):
    use_cpu_nms_for_cuda()
    with FakeCuda():
        assert cuda_nms_works('cuda:0') is False


@pytest.mark.parametrize('message', ['CUDA error: no kernel image is available for execution on the device',
                                     'nms_impl: at param 1, inconsistent device: cpu vs cuda:0\n'])
def test_cuda_nms_works_lets_other_errors_through(monkeypatch, compiled, message):
    def broken(boxes, scores, **kwargs):
        raise RuntimeError(message)

    monkeypatch.setattr(COMPILED, 'nms', broken)
    with FakeCuda(), pytest.raises(RuntimeError, match=message.split(':')[0]):
        cuda_nms_works('cuda:0')


def test_installing_is_idempotent(compiled):
    original = NMS.ext_module
    use_cpu_nms_for_cuda()
    wrapped = NMS.ext_module
    use_cpu_nms_for_cuda()
    assert NMS.ext_module is wrapped and isinstance(wrapped, CpuNmsExt) and wrapped.ext is original
    assert NMS.ext_module.softnms is original.softnms  # the other ops are the compiled ones


@pytest.mark.parametrize('seed', [0, 1, 2])
@pytest.mark.parametrize('nms_cfg', [dict(iou_threshold=0.6), dict(iou_threshold=0.5, split_thr=50),
                                     dict(iou_threshold=0.65, class_agnostic=True)])
def test_batched_nms_on_cuda_equals_the_cpu_op(compiled, seed, nms_cfg):
    boxes, scores, labels = random_boxes(seed)
    want_dets, want_keep = NMS.batched_nms(boxes, scores, labels, dict(nms_cfg))
    assert 0 < len(want_keep) < len(boxes)  # overlaps were suppressed, classes kept apart
    use_cpu_nms_for_cuda()
    compiled.clear()
    cuda_inputs = to_fake_cuda(boxes, scores, labels)
    from mmdet.models.dense_heads import base_dense_head  # the name RTMDet's head calls
    with FakeCuda():
        dets, keep = base_dense_head.batched_nms(*cuda_inputs, dict(nms_cfg))
        assert dets.device == CUDA and keep.device == CUDA  # back on the input's device
    assert compiled and all(b == CPU and s == CPU for b, s, _ in compiled)  # the op ran on the CPU
    assert_same(keep, want_keep)
    assert_same(dets, want_dets)


def test_nms_with_score_threshold_and_max_num_on_cuda_equals_the_cpu_op(compiled):
    boxes, scores, _ = random_boxes(3)
    want_dets, want_keep = NMS.nms(boxes, scores, 0.5, score_threshold=0.3, max_num=20)
    use_cpu_nms_for_cuda()
    compiled.clear()
    with FakeCuda():
        dets, keep = NMS.nms(*to_fake_cuda(boxes, scores), 0.5, score_threshold=0.3, max_num=20)
        assert dets.device == CUDA and keep.device == CUDA
    assert compiled == [(CPU, CPU, int((scores > 0.3).sum()))]  # only the candidates move
    assert_same(keep, want_keep)
    assert_same(dets, want_dets)


def test_mmdet_post_processing_on_cuda_equals_the_cpu_op(compiled):
    from mmdet.models.dense_heads.base_dense_head import BaseDenseHead
    from mmdet.models.layers import multiclass_nms
    from mmengine.config import ConfigDict
    from mmengine.structures import InstanceData

    boxes, scores, labels = random_boxes(4)
    cfg = ConfigDict(nms=dict(type='nms', iou_threshold=0.6), max_per_img=100, min_bbox_size=0)

    def post_process(b, s, l):  # RTMDet's head: BaseDenseHead._bbox_post_process (no self used)
        results = InstanceData(bboxes=b, scores=s, labels=l)
        out = BaseDenseHead._bbox_post_process(None, results, cfg, rescale=False, with_nms=True)
        return out.bboxes, out.scores, out.labels

    multi_scores = torch.cat([torch.rand(len(boxes), 3, generator=torch.Generator().manual_seed(5)),
                              torch.zeros(len(boxes), 1)], 1)
    want_post = post_process(boxes, scores, labels)
    want_multi = multiclass_nms(boxes, multi_scores, 0.3, dict(type='nms', iou_threshold=0.5), 50)
    use_cpu_nms_for_cuda()
    compiled.clear()
    with FakeCuda():
        got_post = post_process(*to_fake_cuda(boxes, scores, labels))
        got_multi = multiclass_nms(*to_fake_cuda(boxes, multi_scores), 0.3,
                                   dict(type='nms', iou_threshold=0.5), 50)
        assert all(t.device == CUDA for t in got_post + tuple(got_multi))
    assert len(compiled) == 2 and all(b == CPU and s == CPU for b, s, _ in compiled)
    for got, want in zip(got_post + tuple(got_multi), want_post + tuple(want_multi)):
        assert_same(got, want)


def test_ensure_device_nms_does_nothing_off_cuda(monkeypatch, compiled):
    monkeypatch.setattr(nms_fallback, 'cuda_nms_works', lambda device: pytest.fail('checked'))
    original = NMS.ext_module
    logs = []
    for device in ('cpu', torch.device('cpu'), 'meta'):
        assert ensure_device_nms(device, log=logs.append) is False
    assert logs == [] and NMS.ext_module is original and compiled == []


def test_ensure_device_nms_on_cuda_with_the_ops_does_nothing(monkeypatch, compiled):
    real = COMPILED.nms
    monkeypatch.setattr(COMPILED, 'nms', lambda b, s, **kw: real(b.cpu(), s.cpu(), **kw).to(b.device))
    original = NMS.ext_module
    logs = []
    with FakeCuda():
        assert ensure_device_nms('cuda:0', log=logs.append) is False
    assert logs == [] and NMS.ext_module is original


def test_ensure_device_nms_on_cuda_without_the_ops_installs_the_fallback_and_says_so(compiled):
    logs = []
    with FakeCuda():
        assert ensure_device_nms('cuda:0', log=logs.append) is True
    assert len(logs) == 1
    assert logs[0].startswith('mmcv has no CUDA ops (built without nvcc): NMS runs on the CPU')
    assert 'MMCV_FORCE_CUDA=1 bash setup.sh' in logs[0] and '\n' not in logs[0]
    assert isinstance(NMS.ext_module, CpuNmsExt)
    boxes, scores, labels = random_boxes(6)
    want = NMS.batched_nms(boxes, scores, labels, dict(iou_threshold=0.6))
    with FakeCuda():
        got = NMS.batched_nms(*to_fake_cuda(boxes, scores, labels), dict(iou_threshold=0.6))
    assert_same(got[1], want[1])
    assert_same(got[0], want[0])


def test_load_models_checks_the_device_nms(monkeypatch):
    seen = []

    class Stop(Exception):
        pass

    def ensure(device, log):
        seen.append(device)
        raise Stop

    monkeypatch.setattr(models, 'ensure_device_nms', ensure)
    monkeypatch.setattr(models, 'install_safe_checkpoint_loader', lambda: None)
    monkeypatch.setattr(models, 'quiet_library_warnings', lambda: None)
    monkeypatch.setattr(models.torch, 'set_num_threads', lambda n: None)
    settings = load_settings().replace(DEVICE='cuda:0', CPU_THREADS=1, MAX_WORKERS=1)  # as devices.resolve gives them
    with pytest.raises(Stop):
        models.load_models(settings, log=lambda line: None)
    assert seen == ['cuda:0']
