"""The detector's NMS on a CUDA device when mmcv was built without its CUDA ops.

setup.sh builds mmcv's CUDA ops only where nvcc is found. With torch's CUDA wheel but no CUDA
toolkit, mmcv has CPU ops only, and RTMDet's post-processing (mmdet's ``batched_nms`` ->
``mmcv.ops.nms`` -> the compiled ``nms``) fails on CUDA tensors. At start-up the stage checks the
op on the device; if it is missing, the compiled ``nms`` alone runs on the CPU: the boxes it gets
are the few candidates above ``score_thr`` (which the engine raises to BBOX_THR). The result is
exactly mmcv's CPU NMS (what the stage computes on the CPU); mmcv's CUDA kernel is the same
algorithm but tests ``inter > thr * union`` where the CPU tests ``inter / union > thr``, and
sorts equal scores in its own order, so the two can differ only for an IoU within float rounding
of the threshold or for overlapping boxes of exactly equal scores.
"""
import importlib
import re

import torch

# mmcv's C++ dispatcher (csrc/common/pytorch_device_registry.hpp) raises, as a RuntimeError:
#   "nms_impl: implementation for device cuda:0 not found.\n"
MISSING_IMPLEMENTATION = re.compile(r'nms_impl: implementation for device \S+ not found')

# setup.sh skips mmcv once mmcv.ops imports, and pip would reuse its cached CPU-only wheel.
REBUILD = ('.venv/bin/pip uninstall -y mmcv && .venv/bin/pip cache remove mmcv && '
           'MMCV_FORCE_CUDA=1 bash setup.sh')


def _nms_module():
    # ``mmcv.ops.nms`` as an attribute is the nms function (mmcv.ops re-exports it): import the module.
    return importlib.import_module('mmcv.ops.nms')


class CpuNmsExt:
    """mmcv's compiled ops as ``mmcv/ops/nms.py`` sees them, with ``nms`` run on the CPU for CUDA
    tensors. Every other op is the compiled one, looked up at call time."""

    def __init__(self, ext):
        self.ext = ext

    def __getattr__(self, name):
        return getattr(self.ext, name)

    def nms(self, boxes, scores, *args, **kwargs):
        if boxes.device.type != 'cuda':
            return self.ext.nms(boxes, scores, *args, **kwargs)
        keep = self.ext.nms(boxes.cpu(), scores.cpu(), *args, **kwargs)
        return keep.to(boxes.device)


def _compiled_ops():
    """mmcv's compiled ops module, without the fallback if it is installed."""
    ext = _nms_module().ext_module
    return ext.ext if isinstance(ext, CpuNmsExt) else ext


def cuda_nms_works(device) -> bool:
    """Whether mmcv's compiled NMS runs on CUDA tensors on ``device``.

    False only for mmcv's missing-implementation error; any other error (a driver or
    architecture problem, say) propagates: the fallback would not be the fix for it."""
    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]], device=device)
    scores = torch.tensor([0.9, 0.8, 0.7], device=device)
    try:
        _compiled_ops().nms(boxes, scores, iou_threshold=0.5, offset=0)
    except RuntimeError as err:
        if MISSING_IMPLEMENTATION.search(str(err)):
            return False
        raise
    return True


def use_cpu_nms_for_cuda() -> None:
    """Run mmcv's compiled NMS on the CPU for CUDA tensors, everywhere mmdet reaches it.

    mmdet binds ``batched_nms``/``nms`` by name at import (base_dense_head, bbox_nms, ...), so those
    names cannot be patched reliably; every one of them ends in ``NMSop.forward``, which looks up
    the module global ``ext_module`` of mmcv/ops/nms.py at each call: that global is replaced.
    The score filtering, index mapping and outputs stay on the device as mmcv ships them.
    Idempotent."""
    module = _nms_module()
    if not isinstance(module.ext_module, CpuNmsExt):
        module.ext_module = CpuNmsExt(module.ext_module)


def ensure_device_nms(device, log=print) -> bool:
    """Make the detector's NMS work on ``device``; True when it runs on the CPU (fallback)."""
    if torch.device(device).type != 'cuda':
        return False
    if cuda_nms_works(device):
        return False
    use_cpu_nms_for_cuda()
    log('mmcv has no CUDA ops (built without nvcc): NMS runs on the CPU for the few candidates '
        'above BBOX_THR (mmcv\'s CPU NMS, the same algorithm as its CUDA NMS); to build the CUDA '
        f'ops: install nvcc for CUDA {torch.version.cuda} (the CUDA toolkit), put it on PATH, '
        f'then: {REBUILD}')
    return True
